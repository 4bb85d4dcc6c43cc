"""Local dashboard users of the default set-up: a YAML file in the data directory (`users.yaml`, mode
0600), written by `voorzorg-adapter user add`, holding Argon2id password hashes only.

    users:
      a.jansen:                       # the login name
        name: "A. Jansen"             # shown on the page and named in the audit record
        organization: "http://fhir.nl/fhir/NamingSystem/ura|00000000"
        role: jgz                     # the access policy's `operations.monitoring` says who may look
        password: "$argon2id$v=19$..."
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # Argon2id with the library's current (RFC 9106 low-memory) parameters
#: Verified against when the login name is unknown, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


@dataclass(frozen=True)
class User:
    login: str
    name: str
    organization: str
    role: str


def load_users(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    users = data.get("users") or {}
    if not isinstance(users, dict):
        raise ValueError(f"{path}: 'users' is not a mapping")
    return users


def add_user(path: Path, login: str, *, name: str, organization: str, role: str, password: str) -> None:
    """Add (or replace) a user; the file is written with mode 0600 (it holds password hashes)."""
    if not login.strip() or not password:
        raise ValueError("a login name and a password are required")
    if "|" not in organization:
        raise ValueError(f"--organization {organization!r} is not 'system|value'")
    users = load_users(path)
    users[login] = {
        "name": name,
        "organization": organization,
        "role": role,
        "password": _HASHER.hash(password),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump({"users": users}, f, sort_keys=True, allow_unicode=True)
    os.chmod(path, 0o600)


def authenticate(path: Path, login: str, password: str) -> User | None:
    """The user when the password is right; None for a wrong password and an unknown name alike (the
    same work is done for both, so the answer's timing does not tell which)."""
    entry = load_users(path).get(login)
    stored = str(entry.get("password", "")) if isinstance(entry, dict) else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if not isinstance(entry, dict):
        return None
    return User(login, str(entry.get("name") or login), str(entry["organization"]), str(entry["role"]))
