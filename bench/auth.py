"""How the benchmark authenticates: the one place to change when the adapter's security changes.

Every HTTP request the benchmark sends goes through `session()`, which carries `auth_headers()`:

- `VOORZORG_BENCH_TOKEN` set: that bearer token, for every server (the one at `--url` included);
- otherwise, for a server the benchmark starts itself, a token minted with that server's own embedded
  issuer (`voorzorg-adapter token`, run with the server's environment) for the JGZ organisation with
  every right — the same caller the test suite's `auth_headers` fixture is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import requests

TOKEN_ENV = "VOORZORG_BENCH_TOKEN"
FHIR_JSON = "application/fhir+json"
JGZ_ORGANIZATION = "http://fhir.nl/fhir/NamingSystem/ura|00000000"

_minted: str | None = None


def token_source() -> str:
    if os.environ.get(TOKEN_ENV, "").strip():
        return f"bearer token from {TOKEN_ENV}"
    if _minted:
        return "bearer token minted by each started server's own issuer (role jgz, system/*.cruds)"
    return f"none ({TOKEN_ENV} unset)"


def auth_headers() -> dict[str, str]:
    """`Authorization: Bearer <token>`, or nothing when there is no token."""
    token = os.environ.get(TOKEN_ENV, "").strip() or _minted
    return {"Authorization": f"Bearer {token}"} if token else {}


def session(headers: Mapping[str, str] | None = None) -> requests.Session:
    """A keep-alive session that speaks FHIR JSON and carries the credentials (`headers`, when given,
    instead of `auth_headers()`: e.g. none for a server started with `--insecure-dev-no-auth`)."""
    s = requests.Session()
    credentials = auth_headers() if headers is None else dict(headers)
    s.headers.update({"Accept": FHIR_JSON, "Content-Type": FHIR_JSON, **credentials})
    return s


def mint_for_server(env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """For a server this benchmark started with `env`: a token of its embedded issuer, unless
    VOORZORG_BENCH_TOKEN says which token to use. An adapter without `token` (no security) gets none.
    Returns the headers that authenticate to that server (also what `auth_headers()` gives from now on)."""
    global _minted
    _minted = None
    if os.environ.get(TOKEN_ENV, "").strip():
        return auth_headers()
    command = [sys.executable, "-m", "adapter.cli", "token", "--client", "voorzorg-bench"]
    command += ["--role", "jgz", "--scope", "system/*.cruds"]
    command += ["--organization", env.get("VOORZORG_ORGANIZATION", JGZ_ORGANIZATION)]
    done = subprocess.run(command, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=60)
    if done.returncode == 0 and done.stdout.strip():
        _minted = done.stdout.strip().splitlines()[-1]
    return auth_headers()
