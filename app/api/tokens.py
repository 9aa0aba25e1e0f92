from flask import current_app
from flask_smorest import Blueprint

from app import actions
from app.accounts import services
from app.api.schemas import ErrorEnvelope, TokenRequest, TokenResponse
from app.extensions import db, limiter

blp = Blueprint("api_tokens", __name__, description="Bearer tokens")


def _limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@blp.post("/tokens")
@limiter.limit(_limit, deduct_when=lambda response: response.status_code == 401)
@blp.arguments(TokenRequest)
@blp.response(201, TokenResponse)
@blp.alt_response(401, schema=ErrorEnvelope, description="invalid_credentials")
@blp.alt_response(429, schema=ErrorEnvelope, description="rate_limited")
@actions.committed
def create_token(body):
    """Exchange an email and password for a bearer token."""
    user = services.authenticate(db.session, body["email"], body["password"])
    token, record = services.issue_api_token(db.session, user, hours=current_app.config["API_TOKEN_HOURS"])
    return {"token": token, "expires_at": record.expires_at}
