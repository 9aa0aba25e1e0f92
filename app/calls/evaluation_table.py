"""The evaluation tables of the call page, one row per bid, ready to write: each bid's figures formatted once and its
score inputs named here rather than looked up cell by cell in the template's loops (40 bids × 3 criteria made
thousands of template lookups and filter calls, half the time of the page).

What a row holds is only what the template showed of the ranked bids the services gave to this user: who may see
them is decided before (`list_bids`, `ranking`), nothing here reads more.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.calls.models import Award, CallLot, Criterion
from app.contracts.services import SupplierRecord
from app.forms import decimal_input_text
from app.i18n import Formats


@dataclass(frozen=True, slots=True)
class ScoreInput:
    """A score input of the lot's scores form: its name (also its id) is `score-<bid id>-<criterion>`."""

    name: str
    label: str  # its accessible name: "Score out of 100 — <criterion> — <supplier>"
    value: str  # the saved score as the form shows it, or what the user typed in a refused form
    errors: list[str]


@dataclass(frozen=True, slots=True)
class Cell:
    points: str
    input: ScoreInput | None


@dataclass(frozen=True, slots=True)
class Record:
    """The members' evaluations of the bidder after earlier contracts (coordinators only), formatted."""

    count: int
    quality: str
    delays: str
    environmental: str


@dataclass(frozen=True, slots=True)
class BidRow:
    bid_id: int
    rank: int
    awarded: bool  # the lot's award went to this bid
    supplier: str
    place: str  # "21000 Dijon"
    received: str  # when the bid was received, in Paris time
    record: Record | None
    abnormally_low: bool
    complete: bool  # scored on every criterion
    technical_note: str
    environmental_note: str
    distance: str | None  # the delivery distance in km, formatted, when given
    amount: str
    cells: list[Cell]  # one per criterion, in the call's order
    total: str


@dataclass(frozen=True, slots=True)
class LotTable:
    rows: list[BidRow]
    decidable: bool  # the coordinator may still score and award this lot: score inputs and award buttons
    form_id: str  # the lot's scores form, which its score inputs belong to


def evaluation_tables(
    lots: list[CallLot],
    criteria: list[Criterion],
    evaluation: dict,
    *,
    can_decide: bool,
    criterion_labels: dict[str, str],
    input_label: str,
    score_forms: dict,
    language: str,
) -> dict[int, LotTable]:
    """Per lot id, its ranked bids as rows. `evaluation` is the view's (ranked bids, awards, supplier records);
    `input_label` begins each score input's accessible name; `score_forms` the bound forms of a refused scores POST,
    per bid id, whose input and errors the inputs show."""
    formats = Formats()
    names = [c.name for c in criteria]
    scored = [name for name in names if name != "price"]
    records = {supplier_id: _record(record, formats) for supplier_id, record in evaluation["records"].items()}
    tables = {}
    for lot in lots:
        award: Award | None = evaluation["awards"].get(lot.id)
        decidable = can_decide and lot.status == "open"
        rows = []
        for ranked, bid in evaluation["ranked"].get(lot.id, []):
            supplier = bid.supplier
            inputs = {}
            if decidable:
                labels = {name: f"{input_label} — {criterion_labels[name]} — {supplier.name}" for name in scored}
                inputs = _score_inputs(bid, scored, labels, score_forms.get(bid.id), language)
            points = ranked.points
            distance = bid.delivery_distance_km
            rows.append(
                BidRow(
                    bid_id=bid.id,
                    rank=ranked.rank,
                    awarded=award is not None and award.bid_id == bid.id,
                    supplier=supplier.name,
                    place=f"{supplier.postcode} {supplier.city or ''}",
                    received=formats.instant(bid.submitted_at),
                    record=records.get(bid.supplier_id),
                    abnormally_low=bid.abnormally_low,
                    complete=ranked.complete,
                    technical_note=bid.technical_note,
                    environmental_note=bid.environmental_note,
                    distance=None if distance is None else formats.number(distance),
                    amount=formats.money(bid.amount),
                    cells=[Cell(formats.number(points[name], 2), inputs.get(name)) for name in names],
                    total=formats.number(ranked.total, 2),
                )
            )
        tables[lot.id] = LotTable(rows, decidable, f"scores-lot-{lot.id}")
    return tables


def _record(record: SupplierRecord, formats: Formats) -> Record:
    return Record(
        record.count,
        formats.number(record.quality),
        formats.number(record.delays),
        formats.number(record.environmental),
    )


def _score_inputs(bid, scored: list[str], labels: dict[str, str], form, language: str) -> dict[str, ScoreInput]:
    """The bid's score inputs: the bound form of a refused POST gives the user's input and its errors, otherwise
    the saved score (as `FrenchDecimalField` shows it). One WTForms form per bid cost more than the rest of the page.
    """
    if form is not None:
        return {
            name: ScoreInput(f"score-{bid.id}-{name}", labels[name], form[name]._value(), form[name].errors)
            for name in scored
        }
    saved = {s.criterion: s.score for s in bid.scores}
    return {
        name: ScoreInput(f"score-{bid.id}-{name}", labels[name], decimal_input_text(saved.get(name), language), [])
        for name in scored
    }
