from flask_login import current_user
from flask_smorest import Blueprint

from app.api.auth import require
from app.api.schemas import AuditList, AuditQuery, ErrorEnvelope
from app.audit import services
from app.extensions import db

blp = Blueprint("api_audit", __name__, description="Audit trail (administrators)")


@blp.get("/audit")
@require("admin")
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditList)
@blp.alt_response(400, schema=ErrorEnvelope, description="validation_error: a bad filter")
@blp.alt_response(401, schema=ErrorEnvelope, description="unauthenticated")
@blp.alt_response(403, schema=ErrorEnvelope, description="forbidden: administrators only")
def list_audit_events(args):
    """The audit trail, newest first, 50 entries a page."""
    page = services.list_events(db.session, current_user, services.filters_from(args), page=args["page"])
    items = [
        {
            **{column: getattr(event, column) for column in services.EVENT_COLUMNS},
            "actor_email": page.actors[event.actor_id].email if event.actor_id in page.actors else None,
        }
        for event in page.events
    ]
    return {"items": items, "page": page.page, "pages": page.pages, "total": page.total}
