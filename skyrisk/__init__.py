"""Shared code: settings, contracts, pure domain logic (geo, risk)."""
