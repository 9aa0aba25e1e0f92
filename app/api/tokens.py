from flask import abort, current_app, g
from flask_smorest import Blueprint

from app import actions
from app.accounts import services
from app.accounts.throttling import login_throttled
from app.api.auth import require
from app.api.schemas import ErrorEnvelope, TokenRequest, TokenResponse
from app.extensions import db

blp = Blueprint("api_tokens", __name__, description="Bearer tokens")


@blp.post("/tokens")
@login_throttled(failed=lambda response: response.status_code == 401)
@blp.arguments(TokenRequest)
@blp.response(201, TokenResponse)
@blp.alt_response(401, schema=ErrorEnvelope, description="invalid_credentials")
@blp.alt_response(429, schema=ErrorEnvelope, description="rate_limited")
@actions.committed
def create_token(body):
    """Exchange an email and password for a bearer token."""
    user = services.authenticate(db.session, body["email"], body["password"], channel="api")
    token, record = services.issue_api_token(db.session, user, hours=current_app.config["API_TOKEN_HOURS"])
    return {"token": token, "expires_at": record.expires_at}


@blp.delete("/tokens/current")
@require()
@blp.response(204)
@blp.alt_response(401, schema=ErrorEnvelope, description="unauthenticated: no valid bearer token was sent")
@actions.committed
def revoke_current_token():
    """Revoke the bearer token this request is sent with; the user's other tokens and sessions go on."""
    record = g.get("api_token")
    if record is None:  # a browser session: there is no token to revoke
        abort(401)
    services.revoke_api_token(db.session, record)
