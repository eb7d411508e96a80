"""Fault injection: scenarios that break one part of the running platform and check what survives."""
