"""Monitoring (domain page §8): the nine VoorZorg measures, computed over a Session.

Pure computation over what the store holds (no HTTP here): `evaluate_measure` answers an R4 MeasureReport
as a JSON dict. The criteria are data (`mappings/measures.yaml`); the Measures themselves are published
in the FHIR package (profiles/input/fsh/measures.fsh).

    report = evaluate_measure(session, "voorzorg-uptake", date(2026, 1, 1), date(2026, 12, 31))
"""

from __future__ import annotations

from adapter.monitoring.evaluate import MEASURE_IDS, evaluate_measure

__all__ = ["MEASURE_IDS", "evaluate_measure"]
