"""The credentials guard docker-compose runs before anything else (`python -m infra check-credentials`).

Compose itself refuses a missing credential (`${VAR:?...}`); this refuses the ones still set to the
placeholder of .env.example (or empty), so a copied example never starts a platform whose passwords
are public. It prints the offending variable names, never their values.
"""

from __future__ import annotations

from collections.abc import Mapping

from infra.env_example import compose_credentials


def credential_problems(environment: Mapping[str, str]) -> list[str]:
    problems = []
    for name, placeholder in compose_credentials().items():
        value = environment.get(name, "")
        if not value.strip():
            problems.append(f"{name} is not set: set it in .env")
        elif value == placeholder:
            problems.append(f"{name} still has the .env.example placeholder: set your own value in .env")
    return problems


def check(environment: Mapping[str, str]) -> int:
    problems = credential_problems(environment)
    for problem in problems:
        print(f"credentials-guard: {problem}", flush=True)
    if problems:
        print("credentials-guard: refusing to start the platform with example or empty credentials", flush=True)
        return 1
    print("credentials-guard: every credential is set and none is an example placeholder", flush=True)
    return 0
