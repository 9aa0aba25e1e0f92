from flask_login import current_user
from flask_smorest import Blueprint

from app.api.auth import require
from app.api.impact import impact_payload
from app.api.pagination import list_page
from app.api.schemas import OverlapList, OverlapQuerySchema
from app.clock import paris_today
from app.contracts.services import renewal_counts
from app.domain.cpv import PREFIX_LENGTH
from app.extensions import db
from app.i18n import current_language
from app.impact.services import overlap_impacts
from app.overlaps.services import OverlapQuery, find_overlaps, possible_overlaps, with_details
from app.remembered import remembered_response

blp = Blueprint("api_overlaps", __name__, description="Overlaps of needs across organizations")


@blp.get("/overlaps")
@require("coordinator", "admin", "buyer")
@blp.arguments(OverlapQuerySchema, location="query")
@blp.response(200, OverlapList)
def overlaps(args):
    """CPV prefixes where submitted needs of two or more organizations meet in the window.

    Buyers see the overlaps that include their organization. `procedure` is what the combined total over the
    contracts' durations requires; `procedure_alone` what each member's own share would require. `impact`: tCO2e
    per year (physical factors for energy bought by quantity, monetary ratios otherwise) with its range, the local
    share of the members' past spend in the category and a savings range per year. Largest total first, `per_page`
    (1 to 200, default 50) a page, `next` the path of the following page.
    """
    query = OverlapQuery(level=args["level"], window_months=args["window_months"], window_start=args["from_"])
    today = paris_today()

    # Contracts are not among the remembered topics: the renewals ending in the window are counted on every request
    # (one GROUP BY) and their counts are part of the key.
    validated = query.validated(today)
    renewals = renewal_counts(
        db.session, PREFIX_LENGTH[validated.level], validated.window_start, validated.window_months
    )

    def answer() -> dict:
        validated, overlaps = find_overlaps(db.session, current_user, query, today=today)
        shown, next_page = list_page(overlaps, args)
        report = with_details(db.session, current_user, validated, shown, lang=current_language(), needs=False)
        possible = possible_overlaps(db.session, current_user, validated, lang=current_language())
        impacts = overlap_impacts(db.session, report.overlaps)
        items = [
            {
                **vars(o),
                "upcoming_renewals": renewals.for_overlap(o.cpv_prefix, o.organizations),
                "impact": impact_payload(impacts.get(o.cpv_prefix)),
            }
            for o in report.overlaps
        ]
        return {"items": items, "possible": possible, "next": next_page}

    # Without `from`, the window starts today: the day is part of the key. Needs, spend and the emission mapping
    # (the impact figures) are the topics.
    return remembered_response(("needs", "spend"), OverlapList(), answer, today, renewals.key())
