"""One settings object, read once from the VOORZORG_* environment.

Every knob an operator can turn lives here, so the README's configuration table and the code cannot
drift apart: `Settings.describe()` is what the README lists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAPPINGS_DIR = PROJECT_ROOT / "mappings"
PROFILES_DIR = PROJECT_ROOT / "profiles"

#: The canonical base of the project's own conformance resources (CodeSystems, profiles, ...).
CANONICAL_BASE = "https://fhir.voorzorg.nl"

KNOWN_MODULES = ("voorzorg-2", "late-start")


def _modules(raw: str) -> frozenset[str]:
    modules = frozenset(m.strip() for m in raw.split(",") if m.strip())
    unknown = modules - set(KNOWN_MODULES)
    if unknown:
        raise ValueError(
            f"VOORZORG_TRAINED_MODULES: unknown {sorted(unknown)}; known: {', '.join(KNOWN_MODULES)}"
        )
    return modules


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str = ""
    base_url: str = "http://localhost:8080"
    trained_modules: frozenset[str] = frozenset(KNOWN_MODULES)
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    default_page_size: int = 50
    max_page_size: int = 500

    @property
    def effective_database_url(self) -> str:
        """SQLite under the data directory unless an explicit URL says otherwise (zero set-up)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'voorzorg.db').as_posix()}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            data_dir=Path(e.get("VOORZORG_DATA_DIR", "data")),
            database_url=e.get("VOORZORG_DATABASE_URL", ""),
            base_url=e.get("VOORZORG_BASE_URL", "http://localhost:8080").rstrip("/"),
            trained_modules=_modules(e.get("VOORZORG_TRAINED_MODULES", ",".join(KNOWN_MODULES))),
            max_body_bytes=int(e.get("VOORZORG_MAX_BODY_BYTES", str(1024 * 1024))),
            max_json_depth=int(e.get("VOORZORG_MAX_JSON_DEPTH", "64")),
            default_page_size=int(e.get("VOORZORG_PAGE_SIZE", "50")),
            max_page_size=int(e.get("VOORZORG_MAX_PAGE_SIZE", "500")),
        )
