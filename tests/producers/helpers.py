"""Test doubles for the producers (they live in ``producers.testing``, shared with the chaos
scenarios) and the recorded API answers under ``data/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from producers.testing import FakeClock, Handler, Reply, ScriptedServer, Seen

__all__ = ["DATA", "FakeClock", "Handler", "Reply", "ScriptedServer", "Seen", "load"]

DATA = Path(__file__).parent / "data"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))
