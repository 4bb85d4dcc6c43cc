"""Where this adapter answers: the base URL `serve` runs on, told to the commands that need it.

Every URL the server writes (fullUrl, paging links, Content-Location, the token issuer and audience)
starts with the base URL. Unless `VOORZORG_BASE_URL` says otherwise it is the address `serve` listens on
(`http://127.0.0.1:8091` for `make run PORT=8091`). `serve` records it in the data directory
(`server.json`), so `voorzorg-adapter token`, run with the same data directory, mints tokens for that
very server — the same key, the same issuer and audience — and says which it used.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapter.config import Settings

RECORD = "server.json"
#: Listening on every interface says nothing of the name clients use: the local name stands in.
_ANY_HOST = {"0.0.0.0": "localhost", "::": "localhost", "": "localhost"}


def listening_url(host: str, port: int) -> str:
    name = _ANY_HOST.get(host, host)
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def served(settings: Settings, host: str, port: int) -> Settings:
    """The settings `serve --host --port` runs with: the listening address is the base URL unless
    VOORZORG_BASE_URL names one."""
    if settings.explicit_base_url:
        return settings
    return replace(settings, base_url=listening_url(host, port))


def record(settings: Settings) -> Path:
    """Write what a token for this server needs (base URL, issuer, audience) to the data directory."""
    path = settings.data_dir / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "base_url": settings.base_url,
        "issuer": settings.issuer,
        "audience": settings.effective_audience,
        "pid": os.getpid(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def recorded(settings: Settings) -> dict[str, Any] | None:
    """What the last `serve` with this data directory recorded, or None."""
    path = settings.data_dir / RECORD
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and isinstance(body.get("base_url"), str) else None


def as_served(settings: Settings) -> tuple[Settings, str]:
    """The settings of the server this data directory belongs to, and where they came from."""
    if settings.explicit_base_url:
        return settings, "VOORZORG_BASE_URL"
    found = recorded(settings)
    if found is None:
        return settings, "the default; no serve has recorded its address in this data directory"
    where = f"{settings.data_dir / RECORD}, written by serve at {found.get('started', '?')}"
    return replace(settings, base_url=str(found["base_url"]).rstrip("/")), where
