from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.accounts import bp, services
from app.accounts.auth import login_required, public
from app.accounts.forms import AcceptInvitationForm, LoginForm, PasswordChangeForm, SupplierRegistrationForm
from app.accounts.throttling import login_throttled
from app.errors import DomainError
from app.extensions import db
from app.forms import apply_errors, safe_next


def _fresh_session() -> None:
    """Start a new session at login and logout (no fixation), keeping only the language choice. Call it before
    `logout_user()`, which leaves in the session the note that deletes the remember-me cookie."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@bp.route("/login", methods=["GET", "POST"])
@public
@login_throttled(failed=lambda response: response.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(db.session, form.email.data, form.password.data)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            db.session.commit()
            _fresh_session()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next"), url_for("main.home")))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    services.log_out(db.session, current_user)
    db.session.commit()
    _fresh_session()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(db.session, current_user, form.current_password.data, form.new_password.data)
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            login_user(current_user)  # a fresh session for the new password generation
            flash(_("Your password has been changed. Your other sessions are logged out."), "success")
            return redirect(url_for("main.home"))
    return render_template("accounts/password.html", form=form)


@bp.route("/register", methods=["GET", "POST"])
@public
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SupplierRegistrationForm()
    if form.validate_on_submit():
        values = services.SupplierRegistration(
            email=form.email.data,
            password=form.password.data,
            full_name=form.full_name.data,
            company_name=form.company_name.data,
            siret=form.siret.data,
            postcode=form.postcode.data,
            city=form.city.data,
            is_sme=form.is_sme.data,
            trades=(form.trades.data or "").split(","),
        )
        try:
            user = services.register_supplier(db.session, values)
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            login_user(user)
            flash(_("Welcome to Mutualis: your company is registered."), "success")
            return redirect(url_for("main.home"))
    return render_template("accounts/register.html", form=form)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    try:
        invitation = services.find_invitation(db.session, token)
    except DomainError as error:
        return render_template("accounts/invitation_invalid.html", message=error.message), 404
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = services.accept_invitation(db.session, token, form.full_name.data, form.password.data)
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            logout_user()
            login_user(user)
            flash(_("Your account is ready."), "success")
            return redirect(url_for("main.home"))
    return render_template("accounts/accept_invitation.html", form=form, invitation=invitation)
