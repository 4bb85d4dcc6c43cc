"""The committed FHIR package is what SUSHI builds from the FSH sources (CI's sync check)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from adapter.config import PROJECT_ROOT


@pytest.mark.node
def test_committed_package_matches_a_fresh_sushi_build() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(
            "Node.js/npm not installed: the profile sync check (profiles/scripts/check-sync.sh) needs them"
        )
    done = subprocess.run(
        ["bash", str(PROJECT_ROOT / "profiles" / "scripts" / "check-sync.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
