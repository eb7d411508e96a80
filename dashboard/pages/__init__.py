"""One module per page; each has ``layout`` and ``register(app, data)``."""
