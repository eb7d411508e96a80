"""Obtains, configures and starts the real services (python -m infra --help)."""
