"""`voorzorg-adapter report`: a year or a range, json / csv / html, kept in the store with --store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.composition import compose
from adapter.config import Settings
from adapter.monitoring.render import parse_period
from bench.region import generate_region


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VOORZORG_DATA_DIR", str(tmp_path))
    for name in ("VOORZORG_DATABASE_URL", "VOORZORG_REPORT_AUDIENCE", "VOORZORG_PEERS_FILE"):
        monkeypatch.delenv(name, raising=False)
    adapter = compose(Settings.from_env())
    generate_region(adapter.store, 40, seed=3)  # a small generated region
    adapter.close()
    return tmp_path


def test_periods() -> None:
    assert [d.isoformat() for d in parse_period("2026")] == ["2026-01-01", "2026-12-31"]
    assert [d.isoformat() for d in parse_period("2026-01-01..2026-06-30")] == ["2026-01-01", "2026-06-30"]


def test_a_csv_report_of_one_measure(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--period", "2026", "--measure", "voorzorg-uptake", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "measure,group,stratifier,stratum,population,count,score"
    assert lines[1].startswith("voorzorg-uptake,uptake,,,initial-population,")


def test_an_external_json_report_masks_and_is_kept(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["report", "--period", "2025-01-01..2026-12-31", "--audience", "external", "--store"]
    assert main([*args, "--measure", "voorzorg-reach", "--measure", "voorzorg-themes"]) == 0
    bundle = json.loads(capsys.readouterr().out)
    reports = [e["resource"] for e in bundle["entry"]]
    assert [r["measure"].rsplit("/", 1)[1] for r in reports] == ["voorzorg-reach", "voorzorg-themes"]
    assert all(r["extension"][0]["valueCode"] == "external" for r in reports)
    adapter = compose(Settings.from_env())
    with adapter.store.reading() as s:
        assert s.count("MeasureReport") == 2
    adapter.close()


def test_html_and_a_bad_period(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--period", "2026", "--measure", "voorzorg-dosage", "--format", "html"]) == 0
    assert "<table>" in capsys.readouterr().out
    assert main(["report", "--period", "last year"]) == 2
    assert "--period" in capsys.readouterr().err
