from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import ApiToken, Invitation
from app.clock import utcnow


def purge_expired_credentials(session: Session) -> int:
    """Delete expired or revoked API tokens and expired unused invitations; returns how many."""
    now = utcnow()
    tokens = session.execute(
        sa.delete(ApiToken).where(sa.or_(ApiToken.expires_at <= now, ApiToken.revoked_at.is_not(None)))
    ).rowcount
    invitations = session.execute(
        sa.delete(Invitation).where(Invitation.expires_at <= now, Invitation.accepted_at.is_(None))
    ).rowcount
    return (tokens or 0) + (invitations or 0)
