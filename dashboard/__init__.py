"""The skyrisk web dashboard (Dash/Plotly): live map, route search, alerts, streams, pipeline, history."""
