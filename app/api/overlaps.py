from flask_login import current_user
from flask_smorest import Blueprint

from app.api.auth import require
from app.api.pagination import list_page
from app.api.remembered import remembered
from app.api.schemas import OverlapList, OverlapQuerySchema
from app.clock import paris_today
from app.extensions import db
from app.i18n import current_language
from app.overlaps.services import OverlapQuery, find_overlaps, possible_overlaps, with_details

blp = Blueprint("api_overlaps", __name__, description="Overlaps of needs across organizations")


@blp.get("/overlaps")
@require("coordinator", "admin", "buyer")
@blp.arguments(OverlapQuerySchema, location="query")
@blp.response(200, OverlapList)
def overlaps(args):
    """CPV prefixes where submitted needs of two or more organizations meet in the window.

    Buyers see the overlaps that include their organization. `procedure` is what the combined total over the
    contracts' durations requires; `procedure_alone` what each member's own share would require. Largest total
    first, `per_page` (1 to 200, default 50) a page, `next` the path of the following page.
    """
    query = OverlapQuery(level=args["level"], window_months=args["window_months"], window_start=args["from_"])
    today = paris_today()

    def page() -> dict:
        validated, overlaps = find_overlaps(db.session, current_user, query, today=today)
        shown, next_page = list_page(overlaps, args)
        report = with_details(db.session, current_user, validated, shown, lang=current_language(), needs=False)
        possible = possible_overlaps(db.session, current_user, validated, lang=current_language())
        return {"items": tuple(report.overlaps), "possible": tuple(possible), "next": next_page}

    # Without `from`, the window starts today: the day is part of the key.
    return remembered(("needs",), page, today)
