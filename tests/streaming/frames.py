"""DataFrame equality for tests.

pyspark 4.0.0's ``pyspark.testing.assertDataFrameEqual`` imports ``pyspark.pandas``, which
fails against the pinned pandas 3.x (``DateOffset`` moved). This keeps its contract for plain
Spark DataFrames: same column names and types, same rows in any order, floats within ``atol``.
"""

from __future__ import annotations

import math


def _normal(value, digits: int):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, digits)
    if isinstance(value, (list, tuple)):
        return tuple(_normal(v, digits) for v in value)
    if hasattr(value, "asDict"):
        return tuple(_normal(v, digits) for v in value)
    return value


def assertDataFrameEqual(actual, expected, digits: int = 9) -> None:  # noqa: N802 - mirrors pyspark
    actual_fields = [(f.name, f.dataType.simpleString()) for f in actual.schema.fields]
    expected_fields = [(f.name, f.dataType.simpleString()) for f in expected.schema.fields]
    assert actual_fields == expected_fields, f"schemas differ:\n{actual_fields}\n{expected_fields}"
    got = sorted((_normal(r, digits) for r in actual.collect()), key=repr)
    want = sorted((_normal(r, digits) for r in expected.collect()), key=repr)
    assert got == want
