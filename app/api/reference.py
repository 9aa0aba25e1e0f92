from flask_smorest import Blueprint

from app.api.auth import require
from app.api.schemas import CpvList, CpvQuery, OrganizationList
from app.extensions import db
from app.i18n import current_language
from app.organizations.services import list_buyer_organizations
from app.reference.services import search_cpv

blp = Blueprint("api_reference", __name__, description="Reference data")


@blp.get("/cpv")
@require()
@blp.arguments(CpvQuery, location="query")
@blp.response(200, CpvList)
def cpv(args):
    """Search the CPV 2008 by code prefix or words; labels in the Accept-Language language (default fr)."""
    lang = current_language()
    items = search_cpv(db.session, args["q"], lang=lang, limit=args["limit"])
    return {
        "items": [
            {"code": c.code, "check_digit": c.check_digit, "label": c.label(lang), "level": c.level} for c in items
        ],
        "next": None,
    }


@blp.get("/organizations")
@require()
@blp.response(200, OrganizationList)
def organizations():
    """Buyer organizations."""
    return {
        "items": [{"code": o.code, "name": o.name, "kind": o.kind} for o in list_buyer_organizations(db.session)],
        "next": None,
    }
