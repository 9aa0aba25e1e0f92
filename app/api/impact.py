"""Impact: the portfolio of groups with their climate and local impact; the `impact` object of other resources."""

from __future__ import annotations

from flask_babel import gettext
from flask_login import current_user
from flask_smorest import Blueprint

from app.api.auth import require
from app.api.schemas import PortfolioOut, PortfolioQuery
from app.clock import paris_today
from app.domain import climate
from app.extensions import db
from app.i18n import current_language
from app.impact import services

blp = Blueprint("api_impact", __name__, description="Climate and local impact of groups, and the portfolio")


def impact_payload(impact: services.Impact | None, *, public: bool = False) -> dict | None:
    """The contract's `impact` object. `public` (anonymous visitors, suppliers): the local share of the members' past
    spend is not shown (it derives from buyers' spend); that of awarded suppliers is."""
    if impact is None:
        return None
    estimate = impact.estimate
    hide_local = public and impact.local_basis == "past_spend"
    coverage = estimate.coverage
    return {
        "tco2e": estimate.tco2e,
        "tco2e_low": estimate.tco2e_low,
        "tco2e_high": estimate.tco2e_high,
        "method": estimate.method,
        "sources": impact.sources,
        "local_share_pct": None if hide_local else impact.local_share_pct,
        "local_share_uncertain_pct": None if hide_local else impact.local_uncertain_pct,
        "local_share_basis": None if hide_local else impact.local_basis,
        "coverage_pct": None if coverage is None else (coverage * 100).quantize(climate.TENTH),
        "savings_low_eur": impact.savings_low,
        "savings_high_eur": impact.savings_high,
        "savings_assumption": {
            "low_rate": impact.savings_assumption.low_rate,
            "high_rate": impact.savings_assumption.high_rate,
            "rationale": impact.savings_assumption.rationale_in(current_language()),
        },
    }


@blp.get("/impact/portfolio")
@require("coordinator", "admin", "buyer")
@blp.arguments(PortfolioQuery, location="query")
@blp.response(200, PortfolioOut)
def portfolio(args):
    """The groups the caller may see that are forming, constituted or awarded, each with its money (per year and
    total, excluding VAT), procedure, savings range per year, local share and tCO2e per year with its range; `totals`
    are the sums of the groups listed (the local share: located euros inside the metropole over all located euros).
    `year` selects the year of past spend behind the local shares (default: all years)."""
    found = services.portfolio(db.session, current_user, year=args.get("year"), today=paris_today())
    return {
        "year": found.year,
        "items": [
            {
                "id": row.group.id,
                "name": row.group.name,
                "stage": row.stage,
                "organizations": sorted(m.organization.code for m in row.group.memberships),
                "annual_amount_eur": row.annual_amount,
                "total_amount_eur": row.total_amount,
                "procedure": row.procedure,
                "impact": impact_payload(row.impact),
            }
            for row in found.rows
        ],
        "totals": {
            "groups": len(found.rows),
            "annual_amount_eur": found.annual_amount,
            "total_amount_eur": found.total_amount,
            "tco2e": found.tco2e,
            "tco2e_low": found.tco2e_low,
            "tco2e_high": found.tco2e_high,
            "method": found.method,
            "savings_low_eur": found.savings_low,
            "savings_high_eur": found.savings_high,
            "local_share_pct": found.local.local_pct,
            "local_share_uncertain_pct": found.local.uncertain_pct,
        },
        "sources": found.sources,
        "caveats": [gettext(text) for text in climate.CARBON_CAVEATS],
    }
