"""A newcomer's path: `serve --port` writes its own port into every URL, `token` signs for that very
server (same data directory, same issuer) and says so, a token that does not fit gets a 401 that says
why, and a command that fails says it in one line."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from fastapi import FastAPI

from adapter.config import Settings
from adapter.instance import RECORD, as_served, listening_url, record, served
from adapter.security.principal import known_roles
from adapter.security.tokens import IssuerKey, mint
from tests.security.helpers import anonymous, refusal
from tests.served import CLI, Served

SCOPE = "system/*.cruds"


def cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("VOORZORG_")}
    return subprocess.run(
        [CLI, *args],
        env={**clean, "VOORZORG_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_listening_address_is_the_base_url_unless_one_is_configured() -> None:
    assert served(Settings(), "127.0.0.1", 8091).base_url == "http://127.0.0.1:8091"
    assert served(Settings(), "0.0.0.0", 8080).base_url == "http://localhost:8080"
    assert listening_url("::1", 8091) == "http://[::1]:8091"
    explicit = Settings.from_env({"VOORZORG_BASE_URL": "https://fhir.jgz.example.nl/r4/"})
    assert served(explicit, "0.0.0.0", 8091).base_url == "https://fhir.jgz.example.nl/r4"
    assert Settings.from_env({}).base_url == "http://127.0.0.1:8080"  # what `make run` serves on


def test_token_signs_for_the_server_its_data_directory_belongs_to(tmp_path: Path) -> None:
    settings = served(Settings(data_dir=tmp_path), "127.0.0.1", 8091)
    key = IssuerKey(settings.issuer_key_path)
    assert key.kid  # as serve makes it
    record(settings)
    run = cli(tmp_path, "token", "--client", "me", "--role", "jgz", "--scope", SCOPE)
    assert run.returncode == 0, run.stderr
    claims = jwt.decode(
        run.stdout.strip(), key.private_key.public_key(), algorithms=["ES256"], audience=settings.base_url
    )
    assert claims["iss"] == "http://127.0.0.1:8091/auth"
    told = run.stderr.strip()
    assert len(told.splitlines()) == 1
    assert str(settings.issuer_key_path.resolve()) in told and key.kid in told
    assert "http://127.0.0.1:8091/auth" in told and RECORD in told
    # VOORZORG_BASE_URL says otherwise: that wins, and it says so
    other = cli(
        tmp_path,
        "token",
        "--client",
        "me",
        "--role",
        "jgz",
        "--scope",
        SCOPE,
        VOORZORG_BASE_URL="https://x.example",
    )
    assert (
        jwt.decode(other.stdout.strip(), options={"verify_signature": False})["iss"]
        == "https://x.example/auth"
    )
    assert "VOORZORG_BASE_URL" in other.stderr


def test_token_without_the_servers_key_makes_none_and_says_where_it_looked(tmp_path: Path) -> None:
    run = cli(tmp_path / "elsewhere", "token", "--client", "me", "--role", "jgz", "--scope", SCOPE)
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert "no issuer key at" in run.stderr and "VOORZORG_DATA_DIR" in run.stderr
    assert not (tmp_path / "elsewhere" / "issuer-key.pem").exists()


def test_token_help_lists_every_role(tmp_path: Path) -> None:
    run = cli(tmp_path, "token", "--help")
    assert run.returncode == 0
    flat = " ".join(run.stdout.split())
    for role in known_roles():
        assert role in flat, role
    assert "exchange-admin" in flat


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (
            ["check-eligibility", "no-such-referral.json"],
            {},
            "No such file or directory: no-such-referral.json",
        ),
        (
            ["audit", "verify"],
            {"VOORZORG_TRAINED_MODULES": "voorzorg-3"},
            "VOORZORG_TRAINED_MODULES: unknown",
        ),
        (
            ["outbox", "list"],
            {"VOORZORG_PEERS_FILE": "/nonexistent/peers.yaml", "VOORZORG_WORKER": "x"},
            "VOORZORG_WORKER",
        ),
    ],
)
def test_a_failing_command_says_why_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    run = cli(tmp_path, *args, **env)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert says in lines[0] and lines[0].startswith(f"voorzorg-adapter {args[0]}: ")


# --- a token that does not fit this server: 401, and why ------------------------------------------
def _token(settings: Settings, key: IssuerKey | None = None) -> dict[str, str]:
    token = mint(
        key or IssuerKey(settings.issuer_key_path),
        issuer=settings.issuer,
        audience=settings.effective_audience,
        client_id="me",
        scope=SCOPE,
        role="jgz",
        organization=None,
    )
    return {"Authorization": f"Bearer {token}"}


def _why(app: FastAPI, headers: dict[str, str]) -> str:
    out = refusal(anonymous(app).get("/Task", headers=headers), 401)
    return str(out["issue"][0]["diagnostics"])


def test_a_token_for_another_port_is_refused_naming_this_servers_issuer(
    app: FastAPI, settings: Settings
) -> None:
    why = _why(app, _token(replace(settings, base_url="http://127.0.0.1:8080")))
    assert "'http://127.0.0.1:8080/auth' is not trusted" in why
    assert "'http://testserver/auth'" in why and "port" in why


def test_a_token_of_another_data_directory_is_refused_naming_the_key(
    app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    other = IssuerKey(tmp_path / "other" / "issuer-key.pem")
    why = _why(app, _token(settings, other))
    ours = IssuerKey(settings.issuer_key_path).kid
    assert f"kid {ours}" in why and other.kid in why and "VOORZORG_DATA_DIR" in why


def test_a_token_for_another_audience_says_which(app: FastAPI, settings: Settings) -> None:
    why = _why(app, _token(replace(settings, audience="https://elsewhere.example")))
    assert "'https://elsewhere.example'" in why and "'http://testserver'" in why


# --- the real thing: serve on a port of its own ---------------------------------------------------
def test_serve_on_a_port_of_its_own_writes_that_port_everywhere(
    tmp_path: Path, referral: dict[str, Any]
) -> None:
    with Served(tmp_path / "data") as server:
        recorded = json.loads((server.data_dir / RECORD).read_text())
        assert recorded["base_url"] == server.url and recorded["issuer"] == f"{server.url}/auth"
        auth = {
            "Authorization": f"Bearer {server.token('--client', 'me', '--role', 'jgz', '--scope', SCOPE)}"
        }
        headers = {**auth, "Content-Type": "application/fhir+json"}
        answer = requests.post(f"{server.url}/", data=json.dumps(referral), headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        page = requests.get(f"{server.url}/Observation?_count=2", headers=auth, timeout=30).json()
        urls = [x["url"] for x in page["link"]] + [e["fullUrl"] for e in page["entry"]]
        assert urls and all(u.startswith(f"{server.url}/") for u in urls), urls
        read = requests.get(page["entry"][0]["fullUrl"], headers=auth, timeout=30)
        assert read.headers["Content-Location"].startswith(f"{server.url}/Observation/")
        smart = requests.get(f"{server.url}/.well-known/smart-configuration", timeout=30).json()
        assert smart["token_endpoint"] == f"{server.url}/auth/token"
        assert as_served(Settings(data_dir=server.data_dir))[0].base_url == server.url
