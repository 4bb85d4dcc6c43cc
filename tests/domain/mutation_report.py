"""Per-module summary of a `make mutation` run (run from the project root after `mutmut run`).

Reads mutmut's results under mutants/ and the equivalent mutants listed in
tests/domain/EQUIVALENT_MUTANTS.md. Prints, per module mutated (each of adapter/domain/, and the measures'
pure core `monitoring/report` and `monitoring/rules` as rows of their own): mutants, killed, equivalent,
survivors left and the score (killed / non-equivalent mutants), then every survivor that is not listed as
equivalent. Exits 1 when a module scores below the floor, or when a listed equivalent mutant is killed (the
list is then out of date). Modules named as arguments (`monitoring/report monitoring/rules`) restrict it to
those, after a run of their mutants only.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

FLOOR = 0.97
# mutmut's exit codes: 1 and 3 the tests failed; 24, -24, 152 and 36 the tests ran out of time (a mutant that
# makes the rhythm loop forever is caught that way): both count as killed.
KILLED = {1, 3, 24, -24, 152, 36}
SURVIVED = {0}
EQUIVALENTS = Path(__file__).with_name("EQUIVALENT_MUTANTS.md")
NAME = re.compile(r"`(adapter\.(?:domain|monitoring)\.[^`\s]+__mutmut_\d+)`")
#: The results per module: every module of the domain, and the measures' pure core (pyproject.toml's
#: `only_mutate`; the rest of adapter/monitoring reads the store and is not mutated).
RESULTS = ("domain/*.py.meta", "monitoring/report.py.meta", "monitoring/rules.py.meta")


def _metas() -> list[Path]:
    root = Path("mutants/adapter")
    return sorted(meta for pattern in RESULTS for meta in root.glob(pattern))


def main(only: list[str]) -> int:
    listed = set(NAME.findall(EQUIVALENTS.read_text(encoding="utf-8")))
    failed = False
    left: list[str] = []
    print(f"{'module':<20}{'mutants':>9}{'killed':>8}{'equiv.':>8}{'left':>6}{'score':>9}")
    for meta in _metas():
        module = meta.relative_to("mutants/adapter").as_posix().removesuffix(".py.meta")
        module = module.removeprefix("domain/")  # the domain's modules by their name, as before
        if only and module not in only:
            continue
        codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        if not codes:
            continue
        killed = {m for m, c in codes.items() if c in KILLED}
        equivalent = {m for m in codes if m in listed}
        stale = killed & equivalent
        others = {m for m in codes if m not in killed and m not in equivalent}
        left += [
            f"{m}: {'survived' if codes[m] in SURVIVED else f'exit code {codes[m]}'}" for m in sorted(others)
        ]
        left += [f"{m}: listed as equivalent but killed" for m in sorted(stale)]
        counted = len(codes) - len(equivalent - stale)
        score = len(killed) / counted if counted else 1.0
        failed |= score < FLOOR or bool(stale)
        print(f"{module:<20}{len(codes):>9}{len(killed):>8}{len(equivalent):>8}{len(others):>6}{score:>9.1%}")
    for line in left:
        print("  ", line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
