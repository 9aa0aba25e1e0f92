from flask import jsonify, request

from app.accounts.auth import public
from app.extensions import db
from app.i18n import current_language
from app.reference import bp
from app.reference.services import search_cpv


@bp.get("/cpv/search")
@public
def cpv_search():
    """The CPV picker's look-up (also used on the public supplier registration page)."""
    lang = current_language()
    try:
        limit = int(request.args.get("limit", 20))
    except ValueError:
        limit = 20
    items = search_cpv(db.session, request.args.get("q", ""), lang=lang, limit=limit)
    return jsonify(
        items=[{"code": c.code, "check_digit": c.check_digit, "label": c.label(lang), "level": c.level} for c in items]
    )
