"""The domain vocabulary, named once: alert types, risk categories, flight phases, emergency
squawks and the airliner envelope.

Contracts derive their ``Literal`` types from here; streaming, batch, the dashboard and the
simulator import these names instead of spelling them. Pure constants: no Spark, no I/O.
"""

from __future__ import annotations

import typing
from typing import Literal

# --- alerts ------------------------------------------------------------------------------------
AlertType = Literal["HIGH_RISK", "ANOMALY", "EMERGENCY"]
HIGH_RISK, ANOMALY, EMERGENCY = typing.get_args(AlertType)
ALERT_TYPES: tuple[str, ...] = typing.get_args(AlertType)

# An aircraft that leaves an alert condition for less than this and comes back is one episode.
EPISODE_GAP_SECONDS = 300.0

# --- risk --------------------------------------------------------------------------------------
RiskCategory = Literal["LOW", "MEDIUM", "HIGH"]  # increasing severity
LOW, MEDIUM, HIGH = typing.get_args(RiskCategory)
RISK_CATEGORIES: tuple[str, ...] = typing.get_args(RiskCategory)

# --- flight phases -------------------------------------------------------------------------------
Phase = Literal["Ground", "Takeoff/Landing", "Climb/Descent", "Cruise"]
GROUND, TAKEOFF_LANDING, CLIMB_DESCENT, CRUISE = typing.get_args(Phase)
PHASES: tuple[str, ...] = typing.get_args(Phase)

# --- emergencies ---------------------------------------------------------------------------------
EMERGENCY_SQUAWKS: dict[str, str] = {"7500": "7500 hijack", "7600": "7600 radio failure", "7700": "7700 emergency"}
SQUAWK_HIJACK, SQUAWK_RADIO_FAILURE, SQUAWK_EMERGENCY = EMERGENCY_SQUAWKS

# --- the airliner envelope (SI units) --------------------------------------------------------------
# Beyond these a state vector is wrong or the aircraft is in trouble. On real traffic (the
# validation set, 2021-10-07 around Paris) the largest |vertical rate| is 31.5 m/s and the
# largest ground speed 277 m/s.
MAX_AIRLINER_VERTICAL_RATE_MS = 40.0  # ~7,900 ft/min
MAX_AIRLINER_GROUND_SPEED_MS = 360.0  # ~700 kt, above any airliner even in a jet stream
# A report farther from the previous one than this speed allows (plus the tolerance, which
# absorbs position noise and rounding of report times) is an implausible jump.
JUMP_TOLERANCE_M = 5_000.0

# --- anomaly reasons (the texts users see) --------------------------------------------------------
REASON_VERTICAL_RATE = "vertical rate outside airliner envelope"
REASON_GROUND_SPEED = "ground speed outside airliner envelope"
REASON_POSITION_JUMP = "implausible position jump"
ANOMALY_REASONS: tuple[str, ...] = (REASON_VERTICAL_RATE, REASON_GROUND_SPEED, REASON_POSITION_JUMP)

# Behaviour outside the envelope counts only when it persists: a single outlier report is
# noise (a decoding glitch), a minute of it is behaviour. Whichever comes first.
ANOMALY_MIN_STATES = 3
ANOMALY_MIN_SECONDS = 20.0
