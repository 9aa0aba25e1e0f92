"""An indicative timeline for a pooled purchase, worked back from the date the contracts must start."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

DEFAULT_LEAD_TIMES = Path(__file__).resolve().parents[1] / "data" / "procedure_lead_times.csv"


@dataclass(frozen=True)
class LeadTime:
    procedure_code: str
    order: int
    key: str
    weeks: int
    label_fr: str
    label_en: str

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_fr


@dataclass(frozen=True)
class Step:
    key: str
    label_fr: str
    label_en: str
    starts_on: date
    ends_on: date
    late: bool  # it should already have started

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_fr


@functools.cache
def load_lead_times(path: Path = DEFAULT_LEAD_TIMES) -> dict[str, tuple[LeadTime, ...]]:
    steps: dict[str, list[LeadTime]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            weeks = int(row["weeks"])
            if weeks < 0:
                raise ValueError(f"negative lead time in {path}: {row}")
            steps.setdefault(row["procedure_code"], []).append(
                LeadTime(
                    row["procedure_code"],
                    int(row["step_order"]),
                    row["step_key"],
                    weeks,
                    row["label_fr"],
                    row["label_en"],
                )
            )
    return {code: tuple(sorted(items, key=lambda s: s.order)) for code, items in steps.items()}


def timeline(procedure_code: str, required_start: date, *, today: date, lead_times=None) -> list[Step]:
    """The steps of `procedure_code` placed back to back so that the last one ends on `required_start`."""
    steps = (lead_times or load_lead_times())[procedure_code]
    placed: list[Step] = []
    end = required_start
    for lead in reversed(steps):
        start = end - timedelta(weeks=lead.weeks)
        placed.append(Step(lead.key, lead.label_fr, lead.label_en, start, end, late=start < today))
        end = start
    return list(reversed(placed))
