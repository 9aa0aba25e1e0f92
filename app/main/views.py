import sqlalchemy as sa
from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.accounts.auth import public
from app.extensions import db
from app.forms import safe_next
from app.main import bp


@bp.get("/")
@public
def home():
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    return render_template(f"main/home_{current_user.role}.html", **_home_context())


def _home_context() -> dict:
    from app.organizations.models import Organization, SupplierCompany

    context: dict = {}
    if current_user.role == "admin":
        context["organization_count"] = db.session.scalar(sa.select(sa.func.count(Organization.id)))
        context["supplier_count"] = db.session.scalar(sa.select(sa.func.count(SupplierCompany.id)))
    if current_user.role == "buyer":
        context["need_counts"] = _need_counts()
    if current_user.role == "coordinator":
        context["overlaps"] = _current_overlaps()
    return context


def _current_overlaps() -> dict:
    """The overlap map's default view (CPV classes, 12 months from today) in figures, for the home panel: SQL
    aggregates per CPV class and organization, never the needs themselves."""
    from app.clock import paris_today
    from app.overlaps.services import overlap_figures

    return overlap_figures(db.session, current_user, today=paris_today())


def _need_counts() -> dict[str, int]:
    """The buyer's organization's needs per status, in one GROUP BY through the needs' own scope."""
    from app.needs import services as need_services
    from app.needs.models import NEED_STATUSES, Need

    stmt = (
        need_services.visible_needs(current_user)
        .with_only_columns(Need.status, sa.func.count(Need.id))
        .group_by(Need.status)
    )
    counts = dict.fromkeys(NEED_STATUSES, 0)
    counts.update({status: count for status, count in db.session.execute(stmt)})
    return counts


@bp.get("/lang/<code>")
@public
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("main.home")))


def _database_answers() -> bool:
    """One cheap query on the migrated schema; False when the database cannot serve (down, missing, access
    revoked, not migrated), the failure logged."""
    from app.error_pages import log as error_log
    from app.error_pages import rollback_quietly
    from app.errors import database_unavailable

    try:
        db.session.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        return True
    except sa.exc.SQLAlchemyError as error:
        if not database_unavailable(error):
            raise
        error_log.warning("database check failed: %s", error)
        rollback_quietly()
        return False


@bp.get("/health")
@public
def health():
    """Liveness: 200 while the process runs, whatever the database says (it is reported, not acted on)."""
    return {"status": "ok", "database": "ok" if _database_answers() else "unavailable"}


@bp.get("/ready")
@public
def ready():
    """Readiness for a load balancer: 200 when the database answers, 503 with Retry-After otherwise."""
    from app.error_pages import RETRY_AFTER_SECONDS

    if _database_answers():
        return {"status": "ready", "database": "ok"}
    return {"status": "unavailable", "database": "unavailable"}, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
