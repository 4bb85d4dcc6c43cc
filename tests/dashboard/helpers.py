"""Logging in to the dashboard as a browser does: the login form's CSRF token, its cookie, the post."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from adapter.dashboard.users import add_user

ORGANIZATION = "http://fhir.nl/fhir/NamingSystem/ura|00000000"
PASSWORD = "correct horse battery staple"
#: The coordinator; the example referral's client is Sanne Jansen (BSN 999911120), who must never show.
COORDINATOR = "Marieke de Vries"
CLIENT_TEXTS = ("999911120", "Jansen", "Sanne")


def add_coordinator(users_file: Path, login: str = "mdevries", role: str = "jgz") -> None:
    add_user(users_file, login, name=COORDINATOR, organization=ORGANIZATION, role=role, password=PASSWORD)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def log_in(client: TestClient, login: str = "mdevries", password: str = PASSWORD) -> object:
    form = client.get("/dashboard/login")
    assert form.status_code == 200
    return client.post(
        "/dashboard/login",
        data={"username": login, "password": password, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
