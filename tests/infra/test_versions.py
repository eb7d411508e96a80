"""Every dependency is pinned, and the pins recorded in infra/versions.toml are the ones used."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from infra.setup import load_versions, pom_xml

REPO = Path(__file__).resolve().parents[2]


def test_python_dependencies_are_exact_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    requirements = project["project"]["dependencies"] + project["dependency-groups"]["dev"]
    loose = [r for r in requirements if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.\-]*", r)]
    assert loose == []


def test_lock_file_pins_pyspark_to_the_spark_jars():
    lock = (REPO / "uv.lock").read_text()
    pyspark = re.search(r'name = "pyspark"\nversion = "([^"]+)"', lock).group(1)
    spark_artifacts = load_versions()["maven"]["spark"]["artifacts"]
    kafka_source = next(a for a in spark_artifacts if "spark-sql-kafka" in a)
    assert kafka_source.endswith(":" + pyspark)


def test_ferretdb_go_module_matches_the_recorded_version():
    spec = load_versions()["go"]["ferretdb"]
    go_mod = (REPO / spec["source"] / "go.mod").read_text()
    assert f"{spec['module']} {spec['version']}" in go_mod
    assert spec["version"] in (REPO / spec["source"] / "go.sum").read_text()


def test_generated_pom_lists_exactly_the_recorded_artifacts():
    artifacts = load_versions()["maven"]["kafka"]["artifacts"]
    pom = pom_xml("x", artifacts).split("<dependencies>")[1]
    found = re.findall(r"<groupId>([^<]+)</groupId><artifactId>([^<]+)</artifactId><version>([^<]+)</version>", pom)
    assert [":".join(f) for f in found] == artifacts
