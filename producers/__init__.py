"""Pollers that publish OpenSky flight states, Open-Meteo weather and Lufthansa data to Kafka.

Each source has one client interface (:class:`producers.core.SourceClient`) with live HTTP,
replay and simulator implementations chosen by configuration (:func:`producers.runner.create_source`).
"""
