"""The results file (``--speech-results``): everything a run measured and judged, as JSON.

Beside the figures: per case its error counts, word alignment and what changed against the
baseline; per run the error analysis, every slice, the hallucination figures and the voice
figures of text to speech, each with its part of the verdict.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpeechlabError
from ..gate.records import RunRecord

# The results file's schema. 1: what 0.1.0 and 0.2.0 wrote, with no "schema" key; 2 (0.3.0):
# the key, each check's note, and in the verdict the parts not gated (``not_gated``: part to
# reason) and the figures beyond their limit that do not fail (``beyond_the_limit``).
RESULTS_SCHEMA = 2


def results_document(runs: list[RunRecord]) -> dict[str, Any]:
    """The results file of runs: one run object, or ``{"runs": [...]}``, with the schema it is
    written in."""
    data = [run.to_json() for run in runs]
    return {"schema": RESULTS_SCHEMA, **(data[0] if len(data) == 1 else {"runs": data})}


def _noted(record: Any) -> Any:
    """``record`` with a note on each of its checks' outcomes where it has none."""
    if not isinstance(record, dict) or not isinstance(record.get("outcomes"), list):
        return record
    return {**record, "outcomes": [{"note": "", **o} for o in record["outcomes"]]}


def _from_schema_1(run: dict[str, Any]) -> dict[str, Any]:
    """A run as 0.2.0 (or 0.1.0) wrote it, in schema 2: what schema 1 did not record (a check's
    note, the parts not gated, the figures beyond their limit; identity differences and unused
    entries before 0.2.0) is empty."""
    verdict = run.get("verdict")
    if isinstance(verdict, dict):
        verdict = {
            "identity_differences": [],
            "unused_baseline_entries": [],
            "notes": [],
            "not_gated": {},
            "beyond_the_limit": [],
            **verdict,
        }
    cases = [_noted(c) for c in run["cases"]]
    tts = [_noted(c) for c in run.get("tts_cases") or []]
    return {**run, "verdict": verdict, "corpus": _noted(run.get("corpus")), "cases": cases, "tts_cases": tts}


def runs_of(document: Any, name: str) -> list[RunRecord]:
    """The runs of a results file (one run, or ``{"runs": [...]}``), as records: a file of an
    older schema is migrated, one of an unknown schema refused."""
    if not isinstance(document, dict):
        raise SpeechlabError(f"{name}: not a results file written by --speech-results")
    schema = document.get("schema", 1)
    if schema not in (1, RESULTS_SCHEMA):
        raise SpeechlabError(f"{name}: unsupported results schema {schema!r} (expected {RESULTS_SCHEMA})")
    runs = document.get("runs", [document])
    if not runs or not all(isinstance(r, dict) and "model" in r and "cases" in r for r in runs):
        raise SpeechlabError(f"{name}: not a results file written by --speech-results")
    runs = [{k: v for k, v in r.items() if k != "schema"} for r in runs]
    current = [_from_schema_1(r) for r in runs] if schema == 1 else runs
    try:
        return [RunRecord.from_json(r) for r in current]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpeechlabError(f"{name}: not a results file written by --speech-results ({exc})") from None
