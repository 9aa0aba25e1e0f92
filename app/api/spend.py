"""Spend: import past spend, read the spend cube and the impact figures (local share, carbon, savings)."""

from __future__ import annotations

from flask_babel import gettext
from flask_login import current_user
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from app import actions
from app.api.auth import require
from app.api.pagination import PageQuery, list_page, page_of
from app.api.schemas import ErrorEnvelope, Money
from app.clock import paris_today
from app.domain import impact
from app.extensions import db
from app.i18n import current_language
from app.remembered import remembered
from app.spend import services
from app.uploads import file_bytes

blp = Blueprint("api_spend", __name__, description="Past spend, the category map and impact estimates")

READERS = ("buyer", "coordinator", "admin")
LEVELS = ("division", "group", "class", "category")


# --- schemas -------------------------------------------------------------------------------------------------


class SpendImportFile(Schema):
    file = Upload(required=True, metadata={"description": "CSV (; or ,), XLSX, or DECP open data (CSV or JSON)"})


class SpendImportForm(Schema):
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(("csv", "xlsx", "decp")),
        metadata={"description": "csv, xlsx or decp; detected from the content when absent"},
    )
    organization = fields.String(
        load_default=None, metadata={"description": "organization code (coordinators and admins; buyers: their own)"}
    )


class SpendImportResult(Schema):
    imported = fields.Integer(metadata={"description": "lines imported"})
    import_id = fields.Integer()
    skipped = fields.Integer(metadata={"description": "lines already imported from another file, not counted again"})
    quarantined = fields.Integer(
        metadata={"description": "DECP records left out (imported + skipped + quarantined = records in the file)"}
    )
    notes = fields.List(fields.String(), metadata={"description": "warnings that did not prevent the import"})


class QuarantineItemOut(Schema):
    row = fields.Integer(metadata={"description": "the record's row in the file (header = row 1; JSON: record + 1)"})
    field = fields.String(allow_none=True, metadata={"description": "the DECP field at fault"})
    reason = fields.String(metadata={"description": "every problem of the record, in the caller's language"})
    source_ref = fields.String(metadata={"description": "the record's id as published"})
    buyer = fields.String(metadata={"description": "the acheteur.id of the record"})
    amount = fields.String(metadata={"description": "the amount as published (the latest one), excl. VAT, total"})


class QuarantineOut(Schema):
    import_id = fields.Integer()
    imported = fields.Integer()
    skipped = fields.Integer()
    quarantined = fields.Integer()
    items = fields.List(fields.Nested(QuarantineItemOut))
    next = fields.String(allow_none=True)


class SpendImportOut(Schema):
    id = fields.Integer()
    organization = fields.Function(lambda record: record.organization.code)
    format = fields.String()
    filename = fields.String()
    sha256 = fields.String()
    lines = fields.Integer(attribute="line_count")
    skipped = fields.Integer(attribute="skipped_count")
    quarantined = fields.Integer(attribute="quarantined_count")
    total_amount_eur = Money(attribute="total_amount")
    first_date = fields.Date(allow_none=True)
    last_date = fields.Date(allow_none=True)
    is_synthetic = fields.Boolean()
    imported_at = fields.DateTime(format="iso")
    rolled_back_at = fields.DateTime(format="iso", allow_none=True)


class SpendImportList(Schema):
    items = fields.List(fields.Nested(SpendImportOut))
    next = fields.String(allow_none=True)


class CubeQuery(PageQuery):
    level = fields.String(load_default="division", validate=validate.OneOf(LEVELS))
    organization = fields.String(load_default=None)
    year = fields.Integer(load_default=None, validate=validate.Range(min=1990, max=2200))


class CubeItemOut(Schema):
    cpv_prefix = fields.String()
    label = fields.String()
    organization = fields.String()
    year = fields.Integer()
    amount_eur = Money(attribute="amount")
    lines = fields.Integer()
    suppliers = fields.Integer(metadata={"description": "distinct known suppliers"})


class CubeList(Schema):
    items = fields.List(fields.Nested(CubeItemOut))
    next = fields.String(allow_none=True)


class ScopeQuery(Schema):
    organization = fields.String(load_default=None)
    year = fields.Integer(load_default=None, validate=validate.Range(min=1990, max=2200))


class BucketOut(Schema):
    bucket = fields.String(validate=validate.OneOf(impact.LOCAL_BUCKETS))
    label = fields.String()
    amount_eur = Money(attribute="amount")
    share = fields.String(metadata={"description": "fraction of the total, decimal string 0..1"})


class LocalShareOut(Schema):
    organization = fields.String(allow_none=True)
    total_eur = Money(attribute="total")
    buckets = fields.List(fields.Nested(BucketOut))


class LocalShareResult(Schema):
    year = fields.Integer(allow_none=True)
    overall = fields.Nested(LocalShareOut)
    organizations = fields.List(fields.Nested(LocalShareOut))
    definition = fields.String()


class CarbonLineOut(Schema):
    division = fields.String()
    amount_eur = Money(attribute="amount")
    category = fields.String(allow_none=True)
    kgco2e_per_keur = fields.String(allow_none=True)
    kgco2e = fields.String(allow_none=True)


class CarbonResult(Schema):
    total_kgco2e = fields.String()
    total_tco2e = fields.String()
    covered_amount_eur = Money()
    uncovered_amount_eur = Money()
    lines = fields.List(fields.Nested(CarbonLineOut))
    source = fields.String()
    caveat = fields.String()


class SavingsQuery(Schema):
    level = fields.String(load_default="class", validate=validate.OneOf(LEVELS))


class AssumptionOut(Schema):
    division = fields.String(metadata={"description": "two digits, or * for the default"})
    low_rate = fields.String()
    high_rate = fields.String()
    rationale = fields.String()


class OverlapSavingsOut(Schema):
    cpv_prefix = fields.String()
    label = fields.String()
    organizations = fields.List(fields.String())
    total_amount_eur = Money(attribute="total_amount")
    savings_low_eur = Money(attribute="low")
    savings_high_eur = Money(attribute="high")
    assumption = fields.Nested(AssumptionOut)


class SavingsResult(Schema):
    items = fields.List(fields.Nested(OverlapSavingsOut))
    source = fields.String()


class PoolingQuery(PageQuery):
    level = fields.String(load_default="class", validate=validate.OneOf(LEVELS))
    year = fields.Integer(load_default=None, validate=validate.Range(min=1990, max=2200))


class PoolingItemOut(Schema):
    cpv_prefix = fields.String(attribute="prefix")
    label = fields.String()
    organizations = fields.List(fields.String())
    amount_eur = Money(attribute="amount")
    lines = fields.Integer()
    suppliers = fields.Integer()
    top_supplier_share = fields.Float(attribute="top_share", allow_none=True)
    hhi = fields.Integer(allow_none=True, metadata={"description": "Herfindahl-Hirschman index 0-10,000"})
    needs_annual_amount_eur = Money(attribute="needs_annual")
    savings_low_eur = Money(attribute="savings_low", allow_none=True)
    savings_high_eur = Money(attribute="savings_high", allow_none=True)


class PoolingResult(Schema):
    level = fields.String()
    year = fields.Integer(allow_none=True)
    pooling_potential_eur = Money()
    items = fields.List(fields.Nested(PoolingItemOut))
    next = fields.String(allow_none=True)


# --- handlers ------------------------------------------------------------------------------------------------


@blp.post("/spend/import")
@require(*READERS)
@blp.arguments(SpendImportForm, location="form")
@blp.arguments(SpendImportFile, location="files")
@blp.response(201, SpendImportResult)
@blp.alt_response(400, schema=ErrorEnvelope, description="validation_error with details.rows")
@blp.alt_response(409, schema=ErrorEnvelope, description="duplicate_import")
@actions.committed
def import_spend(form, files):
    """Import a spend file for an organization, all or nothing (buyers: their own; others name `organization`)."""
    upload = files["file"]
    record = services.import_spend(
        db.session,
        current_user,
        file_bytes(upload),
        upload.filename or "spend.csv",
        organization=form.get("organization"),
        fmt=form.get("format"),
    )
    notes = [gettext(note.message) % note.params for note in services.import_notes(record)]
    return {
        "imported": record.line_count,
        "import_id": record.id,
        "skipped": record.skipped_count,
        "quarantined": record.quarantined_count,
        "notes": notes,
    }


@blp.get("/spend/imports")
@require(*READERS)
@blp.response(200, SpendImportList)
def list_imports():
    """The imports the caller may see, newest first (rolled-back ones included, marked)."""
    return {"items": services.visible_imports(db.session, current_user), "next": None}


@blp.get("/spend/imports/<int:import_id>/quarantine")
@require(*READERS)
@blp.arguments(PageQuery, location="query")
@blp.response(200, QuarantineOut)
@blp.alt_response(404, schema=ErrorEnvelope, description="not_found: no such import, or another organization's")
def import_quarantine(args, import_id):
    """The DECP records an open-data import left out, with their row, field and reason, in file order (same access
    as the import: buyers their own organization's, coordinators and admins all); `per_page` (1 to 200, default
    50) a page, `next` the following."""
    record, stmt = services.quarantine_query(db.session, current_user, import_id)
    items, next_page = page_of(stmt, args)
    entries = [services.quarantine_entry(item) for item in items]
    return {
        "import_id": record.id,
        "imported": record.line_count,
        "skipped": record.skipped_count,
        "quarantined": record.quarantined_count,
        "items": [
            {
                "row": entry.row,
                "field": entry.field,
                "reason": services.quarantine_reason(entry, gettext),
                "source_ref": entry.source_ref,
                "buyer": entry.buyer,
                "amount": entry.amount,
            }
            for entry in entries
        ],
        "next": next_page,
    }


@blp.post("/spend/imports/<int:import_id>/rollback")
@require("admin")
@blp.response(200, SpendImportOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="already_rolled_back")
@actions.committed
def rollback_import(import_id):
    """Remove every line of an import (admins); the file may then be imported again."""
    record = services.rollback_import(db.session, current_user, import_id)
    return record


@blp.get("/spend/cube")
@require(*READERS)
@blp.arguments(CubeQuery, location="query")
@blp.response(200, CubeList)
def spend_cube(args):
    """Organizations × CPV prefix at a level × year: amount, lines and distinct suppliers, from one SQL GROUP BY.
    Ordered by prefix, organization and year; `per_page` (1 to 200, default 50) a page, `next` the following."""

    def page() -> dict:
        every = services.cube_rows(
            db.session, current_user, level=args["level"], organization=args["organization"], year=args["year"]
        )
        rows, next_page = list_page(every, args)
        return {"items": tuple(services.cube_items(db.session, rows, current_language())), "next": next_page}

    return remembered(("spend",), page)


@blp.get("/spend/pooling")
@require(*READERS)
@blp.arguments(PoolingQuery, location="query")
@blp.response(200, PoolingResult)
def pooling(args):
    """Categories where two organizations or more spend: amounts, supplier concentration, yearly savings range.
    The largest first, `per_page` (1 to 200, default 50) a page; `pooling_potential_eur` is over all of them."""
    lang = current_language()

    def page() -> dict:
        pooling = services.pooling_query(db.session, current_user, level=args["level"], year=args["year"])
        rows, next_page = list_page(pooling.rows, args)
        return {
            "level": pooling.level,
            "year": pooling.year,
            "pooling_potential_eur": pooling.potential,
            "items": tuple(services.pooling_items(db.session, pooling, rows, lang)),
            "next": next_page,
        }

    return remembered(("spend", "needs"), page)


def _share_out(organization: str | None, share: impact.LocalShare) -> dict:
    return {
        "organization": organization,
        "total": share.total,
        "buckets": [
            {
                "bucket": bucket,
                "label": gettext(impact.BUCKET_LABELS[bucket]),
                "amount": share.amounts[bucket],
                "share": str(share.share(bucket)),
            }
            for bucket in impact.LOCAL_BUCKETS
        ],
    }


@blp.get("/spend/local-share")
@require(*READERS)
@blp.arguments(ScopeQuery, location="query")
@blp.response(200, LocalShareResult)
def local_share(args):
    """Spend by supplier location: the metropole's 23 communes, the rest of the département, of the region,
    elsewhere, unknown (exclusive buckets, from the supplier's postcode)."""

    def answer() -> dict:
        report = services.local_share_report(
            db.session, current_user, organization=args["organization"], year=args["year"]
        )
        return {
            "year": report.year,
            "overall": _share_out(None, report.overall),
            "organizations": tuple(_share_out(org, share) for org, share in sorted(report.per_organization.items())),
            "definition": gettext(LOCAL_DEFINITION),
        }

    return remembered(("spend",), answer)


LOCAL_DEFINITION = (
    "Buckets from the supplier's postcode (the import's postcode column, else the supplier registry by SIRET): "
    "metropole = the postcodes of Dijon Métropole's 23 communes; departement = other postcodes of Côte-d'Or (21); "
    "region = other postcodes of Bourgogne-Franche-Comté (25, 39, 58, 70, 71, 89, 90); elsewhere; unknown."
)


@blp.get("/spend/carbon")
@require(*READERS)
@blp.arguments(ScopeQuery, location="query")
@blp.response(200, CarbonResult)
def carbon(args):
    """Spend-based carbon estimate per CPV division: an order of magnitude, never a measured figure."""
    return remembered(("spend",), lambda: _carbon_out(args))


def _carbon_out(args) -> dict:
    estimate = services.carbon_report(db.session, current_user, organization=args["organization"], year=args["year"])
    return {
        "total_kgco2e": str(estimate.total_kg),
        "total_tco2e": str(estimate.total_tonnes),
        "covered_amount_eur": estimate.covered_amount,
        "uncovered_amount_eur": estimate.uncovered_amount,
        "lines": tuple(
            {
                "division": line.division,
                "amount": line.amount,
                "category": line.category,
                "kgco2e_per_keur": None if line.kg_per_keur is None else str(line.kg_per_keur),
                "kgco2e": None if line.kg is None else str(line.kg),
            }
            for line in estimate.lines
        ),
        "source": gettext(estimate.source),
        "caveat": gettext(estimate.caveat),
    }


@blp.get("/spend/savings/overlaps")
@require(*READERS)
@blp.arguments(SavingsQuery, location="query")
@blp.response(200, SavingsResult)
def overlap_savings(args):
    """A savings range (low, high) for each current overlap of submitted needs, with the assumption used."""
    items = services.overlap_savings(
        db.session, current_user, level=args["level"], today=paris_today(), lang=current_language()
    )
    return {"items": items, "source": gettext(impact.SAVINGS_SOURCE)}
