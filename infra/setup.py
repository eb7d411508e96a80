"""`make setup`: obtain every service and jar from the package registries, once.

Each step is fingerprinted by its pins (infra/versions.toml, the FerretDB module files): a
second run with everything cached only compares fingerprints. Work goes to the cache
directory (default ~/.cache/skyrisk), never into the repo. Steps run in parallel and report
progress; a failing step names what failed and where its log is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from skyrisk.settings import Settings

REPO = Path(__file__).resolve().parent.parent
VERSIONS_FILE = REPO / "infra" / "versions.toml"
MAVEN_SETTINGS = REPO / "infra" / "maven" / "settings.xml"

_print_lock = threading.Lock()


def say(message: str) -> None:
    with _print_lock:
        print(f"[setup] {message}", flush=True)


class SetupError(RuntimeError):
    pass


def load_versions() -> dict:
    return tomllib.loads(VERSIONS_FILE.read_text())


def fingerprint(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else repr(part).encode())
    return digest.hexdigest()[:16]


@dataclass
class Step:
    name: str
    target: Path  # what the step produces; its fingerprint sits beside it
    stamp: str
    build: Callable[[Path], None]  # builds into the given log file

    @property
    def stamp_file(self) -> Path:
        return self.target.with_name(self.target.name + ".stamp")

    def is_cached(self) -> bool:
        return self.target.exists() and self.stamp_file.exists() and self.stamp_file.read_text() == self.stamp

    def run(self, logs_dir: Path) -> str:
        if self.is_cached():
            say(f"{self.name}: cached ({self.target})")
            return "cached"
        log = logs_dir / f"setup-{self.name}.log"
        say(f"{self.name}: building (log: {log})")
        started = time.monotonic()
        self.build(log)
        self.stamp_file.write_text(self.stamp)
        say(f"{self.name}: done in {time.monotonic() - started:.0f}s")
        return "built"


def run_logged(cmd: list[str], log: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        result = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise SetupError(f"`{' '.join(cmd[:3])} ...` failed (exit {result.returncode}); see {log}:\n{tail}")


def pom_xml(name: str, artifacts: list[str]) -> str:
    deps = []
    for coordinate in artifacts:
        group, artifact, version = coordinate.split(":")
        deps.append(
            f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>skyrisk.infra</groupId><artifactId>{name}</artifactId><version>1</version>\n"
        "  <packaging>pom</packaging>\n"
        "  <dependencies>\n" + "\n".join(deps) + "\n  </dependencies>\n</project>\n"
    )


def maven_step(settings: Settings, name: str, spec: dict) -> Step:
    cache = settings.cache_dir
    target = cache / "jars" / name

    def build(log: Path) -> None:
        if shutil.which("mvn") is None:
            raise SetupError("Maven (mvn) is not installed: apt-get install maven")
        work = cache / "maven" / name
        work.mkdir(parents=True, exist_ok=True)
        (work / "pom.xml").write_text(pom_xml(f"{name}-classpath", spec["artifacts"]))
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [
            "mvn", "-B", "-q", "-s", str(MAVEN_SETTINGS), f"-Dmaven.repo.local={cache / 'm2'}",
            "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
        ]
        cmd += ["-DexcludeTransitive=true"] if not spec.get("transitive") else ["-DincludeScope=runtime"]
        run_logged(cmd, log, cwd=work)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # the classpath appears whole or not at all

    return Step(f"jars-{name}", target, fingerprint(spec), build)


def go_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOMODCACHE", str(settings.cache_dir / "go" / "mod"))
    env.setdefault("GOCACHE", str(settings.cache_dir / "go" / "build"))
    env.setdefault("GOFLAGS", "-mod=mod")
    env["CGO_ENABLED"] = "0"
    return env


def require_go() -> None:
    if shutil.which("go") is None:
        raise SetupError("Go is not installed (needed to build MinIO and FerretDB): see README")


def minio_step(settings: Settings, spec: dict) -> Step:
    target = settings.cache_dir / "bin" / spec["binary"]

    def build(log: Path) -> None:
        require_go()
        staging = settings.cache_dir / "go" / "gobin"
        staging.mkdir(parents=True, exist_ok=True)
        env = go_env(settings) | {"GOBIN": str(staging)}
        run_logged(["go", "install", f"{spec['module']}@{spec['version']}"], log, env=env, cwd=settings.cache_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / spec["binary"], target)

    return Step("minio", target, fingerprint(spec), build)


def ferretdb_step(settings: Settings, spec: dict) -> Step:
    """Our wrapper module, built against FerretDB with the patches under <source>/patches.

    The patched copy of the upstream module is made in a staging folder of the cache and the
    wrapper's go.mod is pointed at it there; the repository's go.mod stays the plain pin.
    """
    source = REPO / spec["source"]
    target = settings.cache_dir / "bin" / spec["binary"]
    patches = sorted((source / "patches").glob("*.patch"))
    files = [source / name for name in ("go.mod", "go.sum", "main.go")] + patches

    def build(log: Path) -> None:
        require_go()
        env = go_env(settings) | {"GOFLAGS": "-mod=readonly"}
        staging = settings.cache_dir / "build" / "ferretdb"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in ("go.mod", "go.sum", "main.go"):
            shutil.copy(source / name, staging / name)
        listing = subprocess.run(["go", "mod", "download", "-json", spec["module"]], cwd=staging, env=env,
                                 capture_output=True, text=True)
        if listing.returncode != 0:
            raise SetupError(f"cannot download {spec['module']}@{spec['version']}: {listing.stderr.strip()}")
        upstream = staging / "upstream"
        shutil.copytree(json.loads(listing.stdout)["Dir"], upstream)
        for path in [upstream, *upstream.rglob("*")]:  # the module cache is read-only
            path.chmod(path.stat().st_mode | 0o200)
        # A ceiling keeps git from taking a repository around the cache for the one to patch.
        git_env = env | {"GIT_CEILING_DIRECTORIES": str(staging)}
        for patch in patches:
            run_logged(["git", "apply", str(patch)], log, cwd=upstream, env=git_env)
        with open(staging / "go.mod", "a") as go_mod:
            go_mod.write(f"\nreplace {spec['module']} => ./upstream\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        run_logged(["go", "build", "-o", str(target) + ".tmp", "."], log, cwd=staging, env=env)
        os.replace(str(target) + ".tmp", target)

    return Step("ferretdb", target, fingerprint(spec, *(f.read_bytes() for f in files)), build)


def debian_packages_missing(packages: list[str]) -> list[str]:
    missing = []
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def ensure_debian_packages(settings: Settings, packages: list[str]) -> str:
    if shutil.which("dpkg-query") is None:
        say("debian packages: not a Debian system; install chromium + chromedriver yourself for browser tests")
        return "skipped"
    missing = debian_packages_missing(packages)
    if not missing:
        say(f"debian packages: cached ({', '.join(packages)})")
        return "cached"
    if os.geteuid() != 0:
        raise SetupError(f"missing Debian packages {missing}: run `sudo apt-get install -y {' '.join(missing)}`")
    log = settings.cache_dir / "logs" / "setup-apt.log"
    say(f"debian packages: installing {', '.join(missing)} (log: {log})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run_logged(["apt-get", "update", "-q"], log, env=env)
    started = time.monotonic()
    run_logged(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], log.with_suffix(".install.log"), env=env)
    say(f"debian packages: done in {time.monotonic() - started:.0f}s")
    return "built"


def check_java() -> None:
    if shutil.which("java") is None:
        raise SetupError("Java 17+ is not installed (Kafka and Spark need it): apt-get install openjdk-17-jre-headless")
    out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    say(f"java: {out.splitlines()[0] if out else 'found'}")


PARTS = ("jars", "services", "browser")


def setup(settings: Settings, *, parts: tuple[str, ...] = PARTS) -> None:
    """Obtain what is missing; ``parts`` narrows it (the Docker image needs only the jars)."""
    started = time.monotonic()
    versions = load_versions()
    (settings.cache_dir / "logs").mkdir(parents=True, exist_ok=True)
    check_java()
    steps: list[Step] = []
    if "jars" in parts:
        steps += [maven_step(settings, name, spec) for name, spec in versions["maven"].items()]
    if "services" in parts:
        steps += [minio_step(settings, versions["go"]["minio"]), ferretdb_step(settings, versions["go"]["ferretdb"])]
    with_browser = "browser" in parts
    logs = settings.cache_dir / "logs"
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=len(steps) + 1) as pool:
        futures = {pool.submit(step.run, logs): step.name for step in steps}
        if with_browser:
            futures[pool.submit(ensure_debian_packages, settings, versions["debian"]["packages"])] = "debian"
        for future, name in futures.items():
            try:
                future.result()
            except SetupError as error:
                errors.append(f"{name}: {error}")
    if errors:
        raise SetupError("setup failed:\n" + "\n".join(errors))
    say(f"ready in {time.monotonic() - started:.1f}s (cache: {settings.cache_dir})")


def binary(settings: Settings, name: str) -> Path:
    path = settings.cache_dir / "bin" / name
    if not path.exists():
        raise SetupError(f"{path} is missing: run `make setup` first")
    return path


if __name__ == "__main__":  # `python -m infra setup` is the entry point; this is the same command
    from infra.__main__ import main

    sys.exit(main(["setup", *sys.argv[1:]]))
