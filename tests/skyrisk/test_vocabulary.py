"""The domain's names are spelled once: in skyrisk/vocabulary.py, nowhere else in the product."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from skyrisk import contracts, vocabulary

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("skyrisk", "producers", "streaming", "batch", "dashboard", "validation")


def _words() -> set[str]:
    return (set(vocabulary.ALERT_TYPES) | set(vocabulary.PHASES) | set(vocabulary.RISK_CATEGORIES)
            | set(vocabulary.EMERGENCY_SQUAWKS) | set(vocabulary.EMERGENCY_SQUAWKS.values())
            | set(vocabulary.ANOMALY_REASONS))


def test_no_product_module_spells_a_vocabulary_word():
    words = _words()
    spelled = []
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name == "vocabulary.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in words:
                    spelled.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert spelled == []


def test_the_contract_fields_take_their_values_from_the_vocabulary():
    enriched = contracts.EnrichedState.model_fields
    assert typing.get_args(enriched["phase"].annotation) == ("Ground", "Takeoff/Landing", "Climb/Descent", "Cruise")
    assert typing.get_args(enriched["risk_category"].annotation) == ("LOW", "MEDIUM", "HIGH")
    assert typing.get_args(contracts.Alert.model_fields["type"].annotation) == ("HIGH_RISK", "ANOMALY", "EMERGENCY")
    assert vocabulary.SQUAWK_EMERGENCY == "7700" and vocabulary.EMERGENCY_SQUAWKS["7700"] == "7700 emergency"
