"""The TCP probe lives in skyrisk.services only: infra.ports does not re-export it and no module
imports it from there (the re-export hid where the probe lives behind a noqa)."""

from __future__ import annotations

import re
from pathlib import Path

import infra.ports
import skyrisk.services

REPO = Path(__file__).resolve().parents[2]
IMPORT_FROM_PORTS = re.compile(r"^from infra\.ports import ([^\n]+)$", re.MULTILINE)


def test_infra_ports_does_not_re_export_the_probe():
    assert not hasattr(infra.ports, "is_listening")
    assert callable(skyrisk.services.is_listening)


def test_no_module_imports_the_probe_from_infra_ports():
    offenders = []
    for path in REPO.rglob("*.py"):
        if ".venv" in path.parts or "site-packages" in path.parts:
            continue
        for names in IMPORT_FROM_PORTS.findall(path.read_text(errors="replace")):
            if "is_listening" in names:
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
