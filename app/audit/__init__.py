"""The audit trail: an append-only, hash-chained record of security-relevant events (app.audit.services.record),
checked by `flask audit verify`, read by administrators on /admin/audit and GET /api/v1/audit."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/admin")
