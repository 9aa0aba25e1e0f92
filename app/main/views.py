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
    return context


@bp.get("/lang/<code>")
@public
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("main.home")))


@bp.get("/health")
@public
def health():
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
