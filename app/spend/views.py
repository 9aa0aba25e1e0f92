"""HTML pages of the spend map and its impact figures, the spend imports and the emission mapping.

Every rule (who sees which organization's spend, what a valid file is) lives in app.spend.services: the views
parse the request and call the service through app.actions (commit once, or roll back and show the error, with the
status of the refusal).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms import SelectChoice

from app import actions
from app.accounts.auth import roles_required
from app.clock import paris_today
from app.contracts import services as contract_services
from app.domain import impact
from app.domain.cpv import PREFIX_LENGTH
from app.domain.spend_import import GENERIC_COLUMNS, generic_column_labels, template_csv_bytes
from app.domain.tabular import RowReport
from app.errors import DomainError, ValidationFailed
from app.extensions import db
from app.forms import LEVEL_NAMES, apply_errors, posted_int
from app.i18n import current_language, money
from app.organizations.services import list_buyer_organizations
from app.pagination import page_number, paginate_list
from app.remembered import remembered_html
from app.spend import bp, exports, models, services  # noqa: F401
from app.spend.forms import ConfirmForm, MappingForm, MapQueryForm, RollbackForm, SpendUploadForm
from app.spend.services.access import reader_scope
from app.uploads import PendingUploads, file_bytes

READERS = ("buyer", "coordinator", "admin")
IMPORTERS = ("buyer", "coordinator", "admin")
QUARANTINE_SHOWN = 500  # records listed on the quarantine page; the CSV has them all
LINES_PER_PAGE = 50
CATEGORIES_PER_PAGE = 50  # the category table; the charts and the heatmap show the largest categories only
CHART_CATEGORIES = 12
POOLING_SHOWN = 20  # shared categories on the impact page, the largest first
PREVIEW_ROWS = 50
UPLOADS = PendingUploads("spend_import", "spend-imports")
PALETTE = ["#1f4e79", "#2e8b57", "#c27c0e", "#8e3b8e", "#b02a37", "#3f72a6", "#6c757d", "#17a2b8"]


@bp.app_context_processor
def _spend_helpers():
    return {"bucket_label": lambda bucket: _(impact.BUCKET_LABELS.get(bucket, bucket))}


def _int_arg(name: str):
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    number = posted_int(raw)
    return raw if number is None else number  # the service refuses what is not a year


def _map_args() -> dict:
    return {
        "level": (request.args.get("level") or "division").strip(),
        "organization": (request.args.get("organization") or "").strip().upper() or None,
        "year": _int_arg("year"),
        "prefix": (request.args.get("prefix") or "").strip() or None,
    }


def _query_form(years: list[int]) -> MapQueryForm:
    form = MapQueryForm(formdata=request.args)
    reader = current_user.role in ("coordinator", "admin")
    organizations = list_buyer_organizations(db.session)
    if not reader:
        organizations = [o for o in organizations if o.id == current_user.organization_id]
    form.set_choices(organizations, years, all_organizations=reader)
    return form


def _level_below(prefix: str | None, level: str) -> str:
    """Opening a prefix shows the level below it (a division opens on its groups)."""
    if not prefix:
        return level
    below = services.child_level(services.level_of_prefix(prefix))
    return below or "category"


def _chart_colors(organizations: list[str]) -> dict[str, str]:
    return {org: PALETTE[i % len(PALETTE)] for i, org in enumerate(organizations)}


def _breadcrumb(prefix: str | None, lang: str) -> list[tuple[str, str]]:
    if not prefix:
        return []
    ancestors = [prefix[:n] for n in (2, 3, 4, 5) if n <= len(prefix)]
    labels = services.cpv_labels(db.session, ancestors, lang)
    return [(p, labels.get(p, "")) for p in ancestors]


@bp.get("/spend")
@roles_required(*READERS)
def spend_map():
    args = _map_args()
    lang = current_language()
    prefix = args["prefix"]
    try:
        level = _level_below(prefix, args["level"]) if prefix else args["level"]
        result = services.spend_map(
            db.session,
            current_user,
            level=level,
            organization=args["organization"],
            year=args["year"],
            parent=prefix,
            lang=lang,
        )
    except ValidationFailed as error:
        db.session.rollback()
        form = _query_form([])
        problems = [m for messages in error.reasons.values() for m in messages]
        return render_template("spend/map.html", form=form, invalid=True, problems=problems), 400

    form = _query_form(result.years)
    form.level.data = result.level
    # The Mutualis contracts beside the imported spend, per category (total value, excl. VAT).
    contract_values = contract_services.contract_values_by_prefix(
        db.session,
        PREFIX_LENGTH[result.level],
        reader_scope(db.session, current_user, args["organization"]),
        parent=prefix,
        year=result.year,
    )
    lines = None
    if prefix:
        selection = services.spend_lines(
            db.session, current_user, prefix=prefix, organization=args["organization"], year=args["year"]
        )
        lines = paginate_list(selection, page_number(), LINES_PER_PAGE)
    query_args = {k: v for k, v in {**args, "level": result.level}.items() if v not in (None, "")}
    categories_page = page_number("categories_page")
    # The results: rendered once per reader, query, page of categories and language, and remembered until the spend
    # or the needs change (their tokens) or the values of the contracts beside them (read on every request: one
    # GROUP BY; part of the key).
    results = remembered_html(
        ("spend", "needs"),
        "spend/_results.html",
        lambda: _results_context(result, query_args, categories_page, contract_values, prefix, lang),
        tuple(sorted(contract_values.items())),
    )
    return render_template(
        "spend/map.html",
        form=form,
        invalid=False,
        org_codes=services.organization_codes(db.session) if lines is not None else {},  # the lines' organizations
        result=result,
        query_args=query_args,
        lines_url=lambda page: url_for(".spend_map", **query_args, page=page, _anchor="lines"),
        lines=lines,
        is_buyer=current_user.role == "buyer",
        results=results,
    )


def _results_context(
    result: services.SpendMap, query_args: dict, categories_page: int, contract_values: dict, prefix, lang: str
) -> dict:
    """What the results part of the spend map shows: path, summary, charts, organizations × categories and a page of
    categories."""
    categories = paginate_list(result.rows, categories_page, CATEGORIES_PER_PAGE)
    colors = _chart_colors(result.organizations)
    top = [r for r in result.rows if r.amount][:CHART_CATEGORIES]
    charts = {
        "categories": {
            "labels": [r.prefix for r in top],
            "titles": [r.label for r in top],
            "datasets": [
                {"label": org, "color": colors[org], "data": [str(r.per_organization.get(org, 0)) for r in top]}
                for org in result.organizations
            ],
        },
        "years": _years_chart(result, colors),
    }
    tables = {
        "categories": (
            [_("CPV"), *result.organizations],
            [[r.prefix, *(money(r.per_organization.get(org, 0), False) for org in result.organizations)] for r in top],
        ),
        "years": (
            [_("Year"), *(d["label"] for d in charts["years"]["datasets"])],
            [
                [label, *(money(d["data"][i], False) for d in charts["years"]["datasets"])]
                for i, label in enumerate(charts["years"]["labels"])
            ],
        ),
    }
    return dict(
        tables=tables,
        result=result,
        level_name=LEVEL_NAMES[result.level],
        query_args=query_args,
        categories=categories,
        categories_url=lambda page: url_for(".spend_map", **query_args, categories_page=page, _anchor="categories"),
        charts=charts,
        top=top,
        has_lines=bool(prefix),
        breadcrumb=_breadcrumb(prefix, lang),
        heat_max=max((v for r in top for v in r.per_organization.values()), default=Decimal(0)),
        is_buyer=current_user.role == "buyer",
        child_level=services.child_level,
        contract_values=contract_values,
    )


def _years_chart(result: services.SpendMap, colors: dict[str, str]) -> dict:
    years = sorted(set(result.by_year) | set(result.needs_by_year))
    datasets = []
    for org in result.organizations:
        datasets.append(
            {
                "label": org,
                "color": colors[org],
                "kind": "spend",
                "data": [str(result.by_year.get(y, {}).get(org, 0)) for y in years],
            }
        )
    for org in result.organizations:
        if any(org in result.needs_by_year.get(y, {}) for y in years):
            datasets.append(
                {
                    "label": f"{org} · {_('needs')}",
                    "color": colors[org],
                    "kind": "needs",
                    "data": [str(result.needs_by_year.get(y, {}).get(org, 0)) for y in years],
                }
            )
    return {"labels": [str(y) for y in years], "datasets": datasets}


# --- exports -------------------------------------------------------------------------------------------------


def _send(body: bytes, fmt: str, name: str) -> Response:
    return Response(
        body,
        mimetype=exports.FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "private, no-store"},
    )


def _export(fmt: str, name: str, sheets: list[tuple[str, list[str], list[list]]]) -> Response:
    lang = current_language()
    if fmt == "csv":
        _, headers, rows = sheets[0]
        return _send(exports.table_csv(headers, rows, lang), fmt, name)
    return _send(exports.tables_xlsx(sheets, lang), fmt, name)


@bp.get("/spend/export/<kind>.<fmt>")
@roles_required(*READERS)
def export(kind: str, fmt: str):
    if fmt not in exports.FORMATS or kind not in ("categories", "lines", "local", "carbon", "savings"):
        abort(404)
    args = _map_args()
    lang = current_language()
    if kind == "categories":
        prefix = args["prefix"]
        level = _level_below(prefix, args["level"]) if prefix else args["level"]
        result = services.spend_map(
            db.session,
            current_user,
            level=level,
            organization=args["organization"],
            year=args["year"],
            parent=prefix,
            lang=lang,
        )
        headers = [
            _("CPV prefix"),
            _("Label"),
            _("Spend (€ excl. VAT)"),
            _("Lines"),
            _("Suppliers"),
            _("Organizations"),
            _("Top supplier"),
            _("Top supplier share"),
            _("HHI"),
            _("Submitted needs, yearly (€ excl. VAT)"),
            _("Yearly savings, low (€)"),
            _("Yearly savings, high (€)"),
        ]
        rows = [
            [
                r.prefix,
                r.label,
                r.amount,
                r.lines,
                r.suppliers,
                ", ".join(r.organizations),
                result.supplier_names.get(r.top_supplier or "", r.top_supplier),
                r.top_share,
                r.hhi,
                r.needs_annual,
                r.savings_low,
                r.savings_high,
            ]
            for r in result.rows
        ]
        return _export(fmt, f"mutualis-spend-{result.level}", [(_("Categories"), headers, rows)])
    if kind == "lines":
        if not args["prefix"]:
            abort(404)
        selection = services.spend_lines(
            db.session, current_user, prefix=args["prefix"], organization=args["organization"], year=args["year"]
        )
        headers = [
            _("Date"),
            _("Organization"),
            _("CPV code"),
            _("Amount (€ excl. VAT)"),
            _("Supplier SIRET"),
            _("Supplier name"),
            _("Co-contractors"),
            _("Description"),
            _("Reference"),
        ]
        codes = services.organization_codes(db.session)
        rows = [
            [
                line.spend_date,
                codes.get(line.organization_id, ""),
                line.cpv_code,
                line.amount,
                line.supplier_siret,
                line.supplier_name,
                line.co_contractors,
                line.description,
                line.source_ref,
            ]
            for line in selection[:100_000]
        ]
        return _export(fmt, f"mutualis-spend-lines-{args['prefix']}", [(_("Lines"), headers, rows)])
    if kind == "local":
        report = services.local_share_report(
            db.session, current_user, organization=args["organization"], year=args["year"]
        )
        headers = [_("Organization"), _("Location"), _("Spend (€ excl. VAT)"), _("Share")]
        rows = []
        for org, share in [(_("All"), report.overall), *sorted(report.per_organization.items())]:
            for bucket in impact.LOCAL_BUCKETS:
                rows.append([org, _(impact.BUCKET_LABELS[bucket]), share.amounts[bucket], float(share.share(bucket))])
        return _export(fmt, "mutualis-local-share", [(_("Local share"), headers, rows)])
    if kind == "carbon":
        estimate = services.carbon_report(
            db.session, current_user, organization=args["organization"], year=args["year"]
        )
        factors = services.emission_factors()
        labels = services.cpv_labels(db.session, [line.division for line in estimate.lines], lang)
        headers = [
            _("CPV division"),
            _("Label"),
            _("Spend (€ excl. VAT)"),
            _("Emission category"),
            _("kgCO2e per k€"),
            _("Estimate (kgCO2e)"),
        ]
        rows = [
            [
                line.division,
                labels.get(line.division, ""),
                line.amount,
                factors[line.category].label(lang) if line.category else _("not estimated"),
                int(line.kg_per_keur) if line.kg_per_keur is not None else None,
                int(line.kg) if line.kg is not None else None,
            ]
            for line in estimate.lines
        ]
        rows.append([_("Source"), _(estimate.source), None, None, None, None])
        rows.append([_("Caveat"), _(estimate.caveat), None, None, None, None])
        return _export(fmt, "mutualis-carbon-estimate", [(_("Carbon estimate"), headers, rows)])
    items = services.overlap_savings(
        db.session,
        current_user,
        level=(request.args.get("level") or "class").strip(),
        today=paris_today(),
        lang=lang,
    )
    headers = [
        _("CPV prefix"),
        _("Label"),
        _("Organizations"),
        _("Combined total (€ excl. VAT)"),
        _("Savings, low (€)"),
        _("Savings, high (€)"),
        _("Low rate"),
        _("High rate"),
        _("Assumption"),
    ]
    rows = [
        [
            s.cpv_prefix,
            s.label,
            ", ".join(s.organizations),
            s.total_amount,
            s.low,
            s.high,
            float(s.assumption.low_rate),
            float(s.assumption.high_rate),
            s.assumption.rationale_in(current_language()),
        ]
        for s in items
    ]
    return _export(fmt, "mutualis-overlap-savings", [(_("Savings"), headers, rows)])


# --- impact --------------------------------------------------------------------------------------------------


@bp.get("/spend/impact", endpoint="impact")
@roles_required(*READERS)
def impact_page():
    args = _map_args()
    lang = current_language()
    level = (request.args.get("level") or "class").strip()
    level = level if level in services.LEVELS else "class"
    try:
        local = services.local_share_report(
            db.session, current_user, organization=args["organization"], year=args["year"]
        )
        carbon = services.carbon_report(db.session, current_user, organization=args["organization"], year=args["year"])
        pooling = services.pooling_query(
            db.session, current_user, level=level, organization=args["organization"], year=args["year"]
        )
    except ValidationFailed as error:
        db.session.rollback()
        flash(" ".join(m for messages in error.reasons.values() for m in messages), "warning")
        return redirect(url_for(".impact"))
    savings = services.overlap_savings(db.session, current_user, level=level, today=paris_today(), lang=lang)
    factors = services.emission_factors()
    mapping = services.emission_mapping(db.session)
    division_labels = services.cpv_labels(db.session, mapping.keys(), lang)
    shared = services.pooling_items(db.session, pooling, pooling.rows[:POOLING_SHOWN], lang)
    shared_count = len(pooling.rows)
    form = _query_form(pooling.years)
    form.level.data = level
    carbon_lines = sorted(carbon.lines, key=lambda line: -(line.kg or 0))
    charted = [line for line in carbon_lines if line.kg][:CHART_CATEGORIES]
    charts = {
        "local": {
            "labels": [_(impact.BUCKET_LABELS[b]) for b in impact.LOCAL_BUCKETS],
            "datasets": [
                {
                    "label": _("Spend"),
                    "color": "#1f4e79",
                    "data": [str(local.overall.amounts[b]) for b in impact.LOCAL_BUCKETS],
                }
            ],
        },
        "carbon": {
            "labels": [line.division for line in charted],
            "titles": [division_labels.get(line.division, "") for line in charted],
            "datasets": [
                {
                    "label": "tCO2e",
                    "color": "#2e8b57",
                    "data": [str((line.kg / 1000).quantize(Decimal("0.1"))) for line in charted],
                }
            ],
        },
    }
    return render_template(
        "spend/impact.html",
        form=form,
        query_args={k: v for k, v in {**args, "level": level}.items() if v not in (None, "") and k != "prefix"},
        level_name=LEVEL_NAMES[level],
        local=local,
        buckets=impact.LOCAL_BUCKETS,
        carbon=carbon,
        carbon_lines=carbon_lines,
        factors=factors,
        mapping=mapping,
        division_labels=division_labels,
        savings=savings,
        savings_total=(sum((s.low for s in savings), Decimal(0)), sum((s.high for s in savings), Decimal(0))),
        shared=shared,
        shared_count=shared_count,
        pooling=pooling,
        assumptions=services.savings_assumptions(),
        assumptions_source=impact.SAVINGS_SOURCE,
        charts=charts,
        metropole=services.metropole_area(),
        region=sorted(impact.REGION_DEPARTEMENTS),
        is_admin=current_user.role == "admin",
    )


# --- imports -------------------------------------------------------------------------------------------------


def _upload_form() -> SpendUploadForm:
    form = SpendUploadForm()
    organizations = list_buyer_organizations(db.session)
    if current_user.role == "buyer":
        organizations = [o for o in organizations if o.id == current_user.organization_id]
    form.set_organizations(organizations)
    if current_user.role == "buyer" and not form.organization.data and organizations:
        form.organization.data = organizations[0].code
    return form


def _render_imports(form: SpendUploadForm, **context):
    lang = current_language()
    return render_template(
        "spend/imports.html",
        form=form,
        imports=services.visible_imports(db.session, current_user),
        columns=GENERIC_COLUMNS,
        lang=lang,
        labels=generic_column_labels(lang),
        rollback_form=RollbackForm(formdata=None),
        is_admin=current_user.role == "admin",
        import_notes=services.import_notes,
        **context,
    )


@bp.route("/spend/imports", methods=["GET", "POST"])
@roles_required(*IMPORTERS)
def imports():
    form = _upload_form()
    staged: dict = {}

    def check():
        upload = form.file.data
        filename = Path(upload.filename or "").name[-200:]
        data = file_bytes(upload)
        if len(data) > current_app.config["SPEND_SYNC_IMPORT_BYTES"]:  # too long to check while the page waits
            return services.queue_spend_import(
                db.session,
                current_user,
                data,
                filename,
                folder=Path(current_app.config["UPLOAD_FOLDER"]),
                organization=form.organization.data or None,
                fmt=form.format.data or None,
            )
        staged.update(
            UPLOADS.stage(
                data, filename=filename, organization=form.organization.data or "", format=form.format.data or ""
            )
        )
        return services.check_spend_import(
            db.session,
            current_user,
            data,
            filename,
            organization=staged["organization"] or None,
            fmt=staged["format"] or None,
        )

    done = actions.submit(form, check, shown_by_page=("validation_error", "duplicate_import"))
    error = done.error
    if isinstance(error, ValidationFailed) and error.rows is not None:
        return _render_imports(
            form,
            token=staged["token"],
            filename=staged["filename"],
            error=error.message,
            problems=error.rows,
            bad_rows=len({p["row"] for p in error.rows if p["row"] is not None}),
        ), done.status
    if not done:
        if isinstance(error, ValidationFailed):  # e.g. a file without rows: the reason belongs to the file field
            apply_errors(form, error)
        elif error is not None:
            if done.refused("duplicate_import"):
                flash(error.message, "warning")
            UPLOADS.discard()
        return _render_imports(form), done.status
    if isinstance(done.value, models.SpendImportJob):
        return redirect(url_for(".import_job", job_id=done.value.id))
    preview = done.value
    rows = preview.new_rows[:PREVIEW_ROWS]
    return _render_imports(
        form,
        token=staged["token"],
        filename=staged["filename"],
        preview=preview,
        rows=rows,
        notes=[note.render(_) for note in preview.notes],
        cpv=services.cpv_labels(db.session, {row["cpv_code"] for row in rows}, current_language()),
        confirm_form=ConfirmForm(formdata=None),
    )


@bp.get("/spend/imports/jobs/<int:job_id>")
@roles_required(*IMPORTERS)
def import_job(job_id: int):
    """A large file imported in the background: its progress (the page reloads itself while it runs), then its
    outcome."""
    job = services.spend_import_job(db.session, current_user, job_id)
    rows_read = services.job_progress(job, Path(current_app.config["UPLOAD_FOLDER"]))
    lang = current_language()
    return render_template(
        "spend/import_job.html",
        job=job,
        rows_read=rows_read,
        percent=job.percent(rows_read),
        problems=services.job_problems(job),
        labels=generic_column_labels(lang),
        refresh=job.status in ("queued", "running"),
    )


@bp.get("/spend/imports/jobs/<int:job_id>.json")
@roles_required(*IMPORTERS)
def import_job_status(job_id: int):
    job = services.spend_import_job(db.session, current_user, job_id)
    rows_read = services.job_progress(job, Path(current_app.config["UPLOAD_FOLDER"]))
    return {
        "status": job.status,
        "rows_read": rows_read,
        "rows_estimate": job.rows_estimate,
        "percent": job.percent(rows_read),
        "import_id": job.import_id,
        "message": job.message,
    }


@bp.get("/spend/imports/<token>/report.csv")
@roles_required(*IMPORTERS)
def import_report(token: str):
    pending, data = UPLOADS.get(token)
    try:
        services.check_spend_import(
            db.session,
            current_user,
            data,
            pending["filename"],
            organization=pending["organization"] or None,
            fmt=pending["format"] or None,
        )
        messages = []
    except ValidationFailed as error:
        db.session.rollback()
        messages = error.rows or []
    except DomainError as error:
        db.session.rollback()
        messages = [{"row": None, "column": None, "message": error.message}]
    report = RowReport()
    for problem in messages:
        report.add(problem["row"], problem["column"], "%(text)s", {"text": str(problem["message"])})
    lang = current_language()
    body = report.to_csv_bytes(lang=lang, column_labels=generic_column_labels(lang))
    name = "rapport-import-depenses.csv" if lang == "fr" else "spend-import-report.csv"
    return current_app.response_class(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@bp.post("/spend/imports/<token>/confirm")
@roles_required(*IMPORTERS)
def confirm_import(token: str):
    pending, data = UPLOADS.get(token)
    done = actions.submit(
        ConfirmForm(),
        lambda: services.import_spend(
            db.session,
            current_user,
            data,
            pending["filename"],
            organization=pending["organization"] or None,
            fmt=pending["format"] or None,
        ),
        success=lambda record: ngettext(
            "%(num)d spend line imported for %(org)s.",
            "%(num)d spend lines imported for %(org)s.",
            record.line_count,
            org=record.organization.code,
        ),
    )
    if not done:
        return _render_imports(_upload_form()), done.status
    UPLOADS.discard()
    return redirect(url_for(".imports"))


def _quarantine_rows(entries) -> list[list]:
    return [
        [
            entry.row,
            entry.field or "",
            services.quarantine_reason(entry, _),
            entry.source_ref,
            entry.buyer,
            entry.amount,
        ]
        for entry in entries
    ]


def _quarantine_headers() -> list[str]:
    return [
        _("Row"),
        _("Field"),
        _("Reason"),
        _("Record id"),
        _("Buyer"),
        _("Amount as published (total, excl. VAT)"),
    ]


@bp.get("/spend/imports/<int:import_id>/quarantine")
@roles_required(*IMPORTERS)
def import_quarantine(import_id: int):
    """The records an open-data import left out, with row, field and reason; the counts reconcile with the file."""
    record, entries = services.import_quarantine(db.session, current_user, import_id, limit=QUARANTINE_SHOWN + 1)
    return render_template(
        "spend/quarantine.html",
        record=record,
        headers=_quarantine_headers(),
        rows=_quarantine_rows(entries[:QUARANTINE_SHOWN]),
        more=len(entries) > QUARANTINE_SHOWN,
    )


@bp.get("/spend/imports/<int:import_id>/quarantine.csv")
@roles_required(*IMPORTERS)
def import_quarantine_csv(import_id: int):
    record, entries = services.import_quarantine(db.session, current_user, import_id)
    name = f"quarantaine-import-{record.id}" if current_language() == "fr" else f"import-{record.id}-quarantine"
    return _send(exports.table_csv(_quarantine_headers(), _quarantine_rows(entries), current_language()), "csv", name)


@bp.post("/spend/imports/<int:import_id>/rollback")
@roles_required("admin")
def rollback_import(import_id: int):
    done = actions.submit(
        RollbackForm(),
        lambda: services.rollback_import(db.session, current_user, import_id),
        success=lambda record: _(
            "Import #%(id)s rolled back: its %(num)d lines no longer count.", id=record.id, num=record.line_count
        ),
    )
    if not done:
        return _render_imports(_upload_form()), done.status
    return redirect(url_for(".imports"))


@bp.get("/spend/imports/template.csv")
@roles_required(*IMPORTERS)
def import_template():
    lang = request.args.get("lang") or current_language()
    if lang not in ("fr", "en"):
        lang = current_language()
    name = "modele-depenses.csv" if lang == "fr" else "spend-template.csv"
    return current_app.response_class(
        template_csv_bytes(lang),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- the emission mapping ------------------------------------------------------------------------------------


@bp.route("/spend/emission-mapping", methods=["GET", "POST"])
@roles_required("admin")
def emission_mapping():
    lang = current_language()
    factors = services.emission_factors()
    choices = [SelectChoice("", _("— not estimated —"))] + [
        SelectChoice(key, f"{f.label(lang)} ({f.kg_per_keur} kgCO2e/k€)")
        for key, f in sorted(factors.items(), key=lambda item: item[1].label(lang))
    ]
    bound = None
    status = 200
    if request.method == "POST":
        bound = MappingForm()
        bound.category_key.choices = choices
        division = bound.division.data or ""
        done = actions.submit(
            bound,
            lambda: services.update_emission_mapping(
                db.session, current_user, division, bound.category_key.data, bound.note.data or ""
            ),
            success=_("Division %(division)s: emission category saved.", division=division),
        )
        if done:
            return redirect(url_for(".emission_mapping") + f"#division-{division}")
        status = done.status
    mapping = services.emission_mapping(db.session)
    forms = {}
    for division, row in mapping.items():
        form = MappingForm(formdata=None, division=division, category_key=row.category_key or "", note=row.note)
        form.category_key.choices = choices
        forms[division] = form
    if bound is not None and bound.division.data in forms:
        forms[bound.division.data] = bound  # the refused one, with what was typed and its errors
    return render_template(
        "spend/emission_mapping.html",
        mapping=mapping,
        forms=forms,
        factors=factors,
        labels=services.cpv_labels(db.session, mapping.keys(), lang),
        lang=lang,
    ), status
