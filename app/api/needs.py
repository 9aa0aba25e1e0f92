from flask_login import current_user
from flask_smorest import Blueprint

from app import actions
from app.api.auth import require
from app.api.schemas import ErrorEnvelope, ImportFile, ImportResult, NeedCreate, NeedList, NeedOut, NeedPatch, NeedQuery
from app.errors import ValidationFailed
from app.extensions import db
from app.forms import renamed_reasons
from app.needs import services
from app.needs.services import NeedFilters, NeedValues
from app.uploads import file_bytes

blp = Blueprint("api_needs", __name__, description="Procurement needs")

_RENAMES = {"annual_amount_eur": "annual_amount", "options_amount_eur": "options_amount"}


_API_NAMES = {service: api for api, service in _RENAMES.items()}


def _values(body: dict) -> dict:
    return {_RENAMES.get(key, key): value for key, value in body.items()}


def _api_fields(change):
    """Run a need service, its refusals naming the API's fields ('annual_amount' → 'annual_amount_eur')."""
    try:
        return change()
    except ValidationFailed as error:
        raise renamed_reasons(error, _API_NAMES) from error


@blp.get("/needs")
@require("buyer", "coordinator", "admin")
@blp.arguments(NeedQuery, location="query")
@blp.response(200, NeedList)
def list_needs(args):
    """Needs the caller may see: buyers their organization's, coordinators every submitted one."""
    filters = NeedFilters(
        organization=args.get("organization"),
        cpv=args.get("cpv"),
        status=args.get("status"),
        start_from=args.get("start_from"),
        start_to=args.get("start_to"),
    )
    page = services.list_needs_page(db.session, current_user, filters, cursor=args.get("cursor"), limit=args["limit"])
    next_url = None
    if page.next_cursor:
        query = {k: v for k, v in args.items() if k not in ("cursor",) and v is not None}
        query["cursor"] = page.next_cursor
        from urllib.parse import urlencode

        next_url = "/api/v1/needs?" + urlencode({k: str(v) for k, v in query.items()})
    return {"items": page.items, "next": next_url}


@blp.post("/needs")
@require("buyer")
@blp.arguments(NeedCreate)
@blp.response(201, NeedOut)
@blp.alt_response(400, schema=ErrorEnvelope, description="validation_error")
@actions.committed
def create_need(body):
    """Record a need for the caller's organization (status draft by default, or submitted)."""
    status = body.pop("status")
    return _api_fields(
        lambda: services.create_need(db.session, current_user, NeedValues(**_values(body)), status=status)
    )


@blp.post("/needs/import")
@require("buyer")
@blp.arguments(ImportFile, location="files")
@blp.response(201, ImportResult)
@blp.alt_response(400, schema=ErrorEnvelope, description="validation_error with details.rows")
@actions.committed
def import_needs(files):
    """Import a CSV or XLSX file of needs, all or nothing (submitted)."""
    upload = files["file"]
    needs = services.import_needs(db.session, current_user, file_bytes(upload), upload.filename or "needs.csv")
    return {"imported": len(needs)}


@blp.get("/needs/<int:need_id>")
@require("buyer", "coordinator", "admin")
@blp.response(200, NeedOut)
@blp.alt_response(404, schema=ErrorEnvelope, description="not_found")
def get_need(need_id):
    return services.get_need(db.session, current_user, need_id)


@blp.patch("/needs/<int:need_id>")
@require("buyer")
@blp.arguments(NeedPatch)
@blp.response(200, NeedOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="stale_version, need_grouped, invalid_status_change")
@actions.committed
def patch_need(body, need_id):
    """Change fields or the status of one of the caller's organization's needs."""
    need = services.get_need(db.session, current_user, need_id)
    version = body.pop("version", None)
    _api_fields(lambda: services.update_need(db.session, current_user, need, _values(body), expected_version=version))
    return need


@blp.delete("/needs/<int:need_id>")
@require("buyer")
@blp.response(204)
@blp.alt_response(409, schema=ErrorEnvelope, description="need_grouped")
@actions.committed
def delete_need(need_id):
    need = services.get_need(db.session, current_user, need_id)
    services.delete_need(db.session, current_user, need)
    return None
