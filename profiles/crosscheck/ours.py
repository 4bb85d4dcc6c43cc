"""Our verdicts for the cross-check: prints JSON (one object per case) on stdout.

Cases: every example instance of the package (each referral-Bundle entry also on its own), and the
broken variants of tests/profiles/test_validator_broken.py. Run by crosscheck.mjs with the project's
venv: /work/main/.venv/bin/python profiles/crosscheck/ours.py
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapter.fhir.validator import validate  # noqa: E402
from tests.profiles.examples import example, example_files  # noqa: E402
from tests.profiles.test_validator_broken import CASES  # noqa: E402


def verdict(resource: dict[str, Any]) -> dict[str, Any]:
    t = time.perf_counter()
    issues = validate(resource)
    ms = (time.perf_counter() - t) * 1000
    return {
        "errors": sum(i.severity in ("error", "fatal") for i in issues),
        "warnings": sum(i.severity == "warning" for i in issues),
        "issues": [i.to_fhir() for i in issues],
        "ms": round(ms, 3),
    }


def main() -> None:
    out: list[dict[str, Any]] = []
    for name, res in example_files().items():
        out.append({"name": name, "kind": "example", "resource": res, "ours": verdict(copy.deepcopy(res))})
        for i, e in enumerate(res.get("entry", [])):
            r = e["resource"]
            out.append(
                {
                    "name": f"{name} entry[{i}] {r['resourceType']}",
                    "kind": "example",
                    "resource": r,
                    "ours": verdict(copy.deepcopy(r)),
                }
            )
    for case in CASES:
        profile_id, what, mutate, expression, code = case[:5]
        severity = case[5] if len(case) > 5 else "error"
        res = example(profile_id)
        mutate(res)
        out.append(
            {
                "name": f"{profile_id}: {what}",
                "kind": "broken",
                "expect": {"expression": expression, "code": code, "severity": severity},
                "resource": res,
                "ours": verdict(copy.deepcopy(res)),
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
