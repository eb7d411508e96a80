"""Scenario modules; each exports ``SCENARIOS`` (see ``chaos.core``)."""
