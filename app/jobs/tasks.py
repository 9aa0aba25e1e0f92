"""Job functions: each opens an app context and calls a service, then commits."""

from __future__ import annotations

import logging

from app.jobs.scheduler import job_app

log = logging.getLogger("mutualis.jobs")


def purge_expired_credentials() -> int:
    from app.accounts.housekeeping import purge_expired_credentials as purge
    from app.extensions import db

    with job_app().app_context():
        removed = purge(db.session)
        db.session.commit()
    log.info("purged %d expired token(s) and invitation(s)", removed)
    return removed
