"""Hypothesis settings for the domain tests, and their order under mutation testing.

`make mutation` sets VOORZORG_HYPOTHESIS_PROFILE=mutation. Then:
- every mutant is judged on the same examples (derandomised), no example found for one mutant is replayed
  for another (no database), and a failing example is not shrunk (the first failure kills the mutant);
- each property runs at most MUTATION_MAX_EXAMPLES examples (its own, larger count still holds in
  `make test`, where finding a new counterexample is the point);
- the example-based tests run before the properties, so a mutant that a plain test kills is killed
  in milliseconds (mutmut stops at the first failure) and only the survivors pay for the properties.

The profile is loaded here, before the test modules are imported, so their own `@settings(...)` inherit it.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

PROFILE = os.environ.get("VOORZORG_HYPOTHESIS_PROFILE", "default")
MUTATION_MAX_EXAMPLES = 100

settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=False,
)
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if PROFILE != "mutation":
        return
    for item in items:
        test = getattr(item, "obj", None)
        if getattr(test, "is_hypothesis_test", False):
            # Hypothesis keeps a test's settings on the test function; a test's own max_examples
            # outranks any profile, so the cap is applied here.
            own: settings = test._hypothesis_internal_use_settings
            if own.max_examples > MUTATION_MAX_EXAMPLES:
                test._hypothesis_internal_use_settings = settings(own, max_examples=MUTATION_MAX_EXAMPLES)
    items.sort(key=lambda item: getattr(getattr(item, "obj", None), "is_hypothesis_test", False))
