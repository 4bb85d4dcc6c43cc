"""Every shell block of the README runs as written, in order, against a live server — as a newcomer would:
`voorzorg-adapter serve` on a port of its own (not 8080, so the server has to find its own address), the
blocks in one shell in a directory of their own (`.venv` and `examples` as in a checkout, the server's
data directory as `./data`), with nothing set but what the README sets. curl is told to fail on an HTTP
error (`--fail-with-body`, from a `.curlrc`), so a block whose request is refused fails the test.

The one change made to the blocks: the README's address `http://127.0.0.1:8080` becomes the live
server's. A block that cannot run here says so in the README, visibly, just above it:
`_README test: skipped (the reason)._`
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from adapter.config import PROJECT_ROOT
from tests.served import Served

README = PROJECT_ROOT / "README.md"
ADDRESS = "http://127.0.0.1:8080"
SKIP = re.compile(r"^_README test: skipped \((?P<why>.+)\)\._$")
SHELLS = ("bash", "sh", "shell", "console")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    text: str
    skipped: str | None  # the reason, when the README says it is not run


def blocks(text: str) -> list[Block]:
    """The shell blocks of a Markdown text, in order (fences at the start of a line)."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w+)\s*$", lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if fence.group(1) in SHELLS:
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = SKIP.match(before.strip())
            out.append(Block(i + 1, "\n".join(lines[i + 1 : end]), marker.group("why") if marker else None))
        i = end + 1
    return out


def test_the_readme_has_shell_blocks_and_says_why_it_skips_any() -> None:
    found = blocks(README.read_text(encoding="utf-8"))
    assert len([b for b in found if b.skipped is None]) >= 5
    for b in found:
        assert b.skipped is None or len(b.skipped) > 10, b.line
    assert not any("{" in b.text and "}" in b.text and "{its id}" in b.text for b in found)


def _checkout(tmp_path: Path) -> Path:
    """A directory laid out as a checkout for the README's relative paths (.venv/bin, examples)."""
    work = tmp_path / "checkout"
    work.mkdir()
    (work / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    (work / "examples").symlink_to(PROJECT_ROOT / "examples")
    return work


def _script(runnable: list[Block], url: str) -> str:
    parts = ["set -euo pipefail"]
    for b in runnable:
        parts.append(f'echo "### README block at line {b.line} (at $(date +%T.%N))" >&2')
        parts.append(b.text.replace(ADDRESS, url))
    return "\n".join(parts) + "\n"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's blocks use curl, not found on PATH")
def test_every_shell_block_of_the_readme_runs_as_written(tmp_path: Path) -> None:
    runnable = [b for b in blocks(README.read_text(encoding="utf-8")) if b.skipped is None]
    work = _checkout(tmp_path)
    curl_home = tmp_path / "curl"
    curl_home.mkdir()
    (curl_home / ".curlrc").write_text("fail-with-body\nshow-error\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOORZORG_")}
    env |= {"CURL_HOME": str(curl_home), "HOME": str(curl_home)}
    started = time.monotonic()
    with Served(work / "data") as server:
        done = subprocess.run(
            ["bash", "-c", _script(runnable, server.url)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        last = [line for line in done.stderr.splitlines() if line.startswith("### README block")]
        assert done.returncode == 0, (
            f"{last[-1] if last else 'before the first block'} failed (exit {done.returncode}):\n"
            f"{done.stderr[-3000:]}\n--- stdout ---\n{done.stdout[-3000:]}"
        )
        assert len(last) == len(runnable)
        _the_walkthrough_got_where_it_says(server)
    assert time.monotonic() - started < 180


def _the_walkthrough_got_where_it_says(server: Served) -> None:
    token = server.token("--client", "check", "--role", "jgz", "--scope", "system/*.rs")
    auth = {"Authorization": f"Bearer {token}"}

    def search(query: str) -> list[dict[str, object]]:
        bundle = requests.get(f"{server.url}/{query}", headers=auth, timeout=30).json()
        return [e["resource"] for e in bundle.get("entry", [])]

    consult = search(
        "Task?code=https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item|voorzorg-consult-request"
    )
    assert [t["status"] for t in consult] == ["completed"]  # accepted, then answered with the advice
    decisions = search("GuidanceResponse?request=urn:oid:2.16.528.1.1007.3.3.1234567.1|VZ-2026-0043")
    assert decisions and "VoorZorg Consult" in str(decisions[0]["note"])  # the advice taken over
    [subscription] = search("Subscription")
    assert subscription["criteria"] == "https://fhir.voorzorg.nl/SubscriptionTopic/referral-task-status"
