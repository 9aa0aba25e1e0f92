"""Account operations: session and actor in, domain errors out; callers commit."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.accounts.models import STAFF_ROLES, ApiToken, Invitation, User, token_digest
from app.audit.services import record as audit
from app.clock import utcnow
from app.errors import Conflict, InvalidCredentials, NotFound, NotPermitted, ValidationFailed
from app.organizations.models import Organization, SupplierCompany, SupplierTrade
from app.reference.services import unknown_codes
from app.validation import clean_email, clean_postcode, clean_siret, password_problem


@functools.cache
def _dummy_user() -> User:
    """A user to check passwords against when the email is unknown, so both failures cost the same."""
    user = User()
    user.set_password(secrets.token_hex(16))
    return user


def _invalid_credentials(email: str, user: User | None) -> InvalidCredentials:
    """The refusal, carrying its audit event (kept although the login's transaction rolls back): the email tried,
    and the account it names when there is one. An unknown email creates nothing but that event."""
    error = InvalidCredentials(str(_l("Email or password is incorrect.")))
    error.audit = ("login.failed", user, {"email": email[:254]})
    return error


def authenticate(session: Session, email: str, password: str, *, channel: str = "page") -> User:
    """The account these credentials open (`channel`: "page" or "api", recorded with the login)."""
    email = (email or "").strip().lower()
    user = session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        _dummy_user().check_password(password or "")
        raise _invalid_credentials(email, None)
    if not user.check_password(password or "") or not user.is_active:
        raise _invalid_credentials(email, user)
    user.last_login_at = utcnow()
    audit(session, user, "login", user, channel=channel)
    return user


def end_sessions(session: Session, user: User) -> None:
    """End every session, remember-me cookie and API token of the user, on every device: sessions and cookies name
    the user's session version, which changes; tokens are revoked."""
    user.session_version += 1
    session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    session.flush()


def log_out(session: Session, actor: User) -> None:
    """Logging out ends all the user's sessions and tokens, not only this browser's: a copied cookie or a forgotten
    device is logged out too."""
    end_sessions(session, actor)
    audit(session, actor, "logout", actor)


def change_password(session: Session, actor: User, current: str, new: str) -> None:
    if not actor.check_password(current or ""):
        raise ValidationFailed({"current_password": [str(_l("The current password is incorrect."))]})
    problem = password_problem(new)
    if problem:
        raise ValidationFailed({"new_password": [problem]})
    actor.set_password(new)
    end_sessions(session, actor)
    audit(session, actor, "password.changed", actor)


def set_user_active(session: Session, actor: User, user_id: int, active: bool) -> User:
    """An administrator closes or reopens an account. Either way the account's sessions and tokens end: a reopened
    account starts again from a new login."""
    if actor.role != "admin":
        raise NotPermitted(str(_l("Only an administrator can deactivate or reactivate accounts.")))
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(str(_l("This account does not exist.")))
    if user.id == actor.id and not active:
        raise NotPermitted(str(_l("You cannot deactivate your own account.")))
    if not active and user.is_active_account:
        _keep_an_admin(session, user)
    user.is_active_account = active
    end_sessions(session, user)
    audit(session, actor, "user.reactivated" if active else "user.deactivated", user)
    return user


ASSIGNABLE_ROLES = ("admin", "coordinator", "buyer")  # a supplier's account belongs to its company: its role stays


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse to leave the platform without an active administrator."""
    if user.role != "admin" or not user.is_active_account:
        return
    others = session.scalar(
        sa.select(sa.func.count(User.id)).where(User.role == "admin", User.is_active_account, User.id != user.id)
    )
    if not others:
        raise Conflict("last_admin", str(_l("This is the last active administrator: appoint another one first.")))


def set_user_role(session: Session, actor: User, user_id: int, role: str) -> User:
    """An administrator changes an account's role (administrator, coordinator, buyer). Not their own, never the last
    active administrator's, never a supplier's; a buyer needs an organization. The account's sessions and tokens end:
    its next login carries the new role."""
    if actor.role != "admin":
        raise NotPermitted(str(_l("Only an administrator can change roles.")))
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(str(_l("This account does not exist.")))
    if user.id == actor.id:
        raise NotPermitted(str(_l("You cannot change your own role.")))
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed({"role": [str(_l("Choose administrator, coordinator or buyer."))]})
    if user.role == "supplier":
        raise ValidationFailed({"role": [str(_l("A supplier's account keeps its role: it belongs to its company."))]})
    if role == "buyer" and user.organization_id is None:
        raise ValidationFailed({"role": [str(_l("A buyer belongs to an organization: this account has none."))]})
    if role == user.role:
        return user
    if role != "admin":
        _keep_an_admin(session, user)
    previous, user.role = user.role, role
    end_sessions(session, user)
    session.flush()
    audit(session, actor, "user.role_changed", user, previous=previous, role=role)
    return user


@dataclass
class SupplierRegistration:
    """What a supplier's registration form holds; the password is chosen once the email is confirmed."""

    email: str
    full_name: str
    company_name: str
    siret: str
    postcode: str
    city: str
    is_sme: bool
    trades: list[str]


@dataclass
class RegistrationCheck:
    """A registration whose values are valid, with what is already known of its email and SIRET: the registrant
    is never shown it, only told by mail (the page answers the same way), so that nobody can probe who is
    registered."""

    values: SupplierRegistration  # cleaned: email in lower case, SIRET compact, trades sorted
    account: User | None  # the account that already has this email
    company: SupplierCompany | None  # the company that already has this SIRET
    company_users: list[User]  # its active users, to be told


def check_supplier_registration(session: Session, values: SupplierRegistration) -> RegistrationCheck:
    """Check the form's values (their format only) and look up whether the email or the SIRET is known."""
    reasons: dict[str, list[str]] = {}
    email, problem = clean_email(values.email)
    if problem:
        reasons["email"] = [problem]
    if not (values.full_name or "").strip():
        reasons["full_name"] = [str(_l("Your name is required."))]
    if not (values.company_name or "").strip():
        reasons["company_name"] = [str(_l("The company name is required."))]
    siret, problem = clean_siret(values.siret)
    if problem:
        reasons["siret"] = [problem]
    postcode, problem = clean_postcode(values.postcode)
    if problem:
        reasons["postcode"] = [problem]
    trades = sorted({code.strip() for code in values.trades if code and code.strip()})
    if not trades:
        reasons["trades"] = [str(_l("Choose at least one trade (CPV code)."))]
    else:
        unknown = unknown_codes(session, trades)
        if unknown:
            reasons["trades"] = [str(_l("Unknown CPV code: %(codes)s", codes=", ".join(unknown)))]
    if reasons:
        raise ValidationFailed(reasons)
    cleaned = SupplierRegistration(
        email=email,
        full_name=values.full_name.strip(),
        company_name=values.company_name.strip(),
        siret=siret,
        postcode=postcode,
        city=(values.city or "").strip(),
        is_sme=bool(values.is_sme),
        trades=trades,
    )
    account = session.scalar(sa.select(User).where(User.email == email))
    company = session.scalar(sa.select(SupplierCompany).where(SupplierCompany.siret == siret))
    users = []
    if company is not None:
        users = list(session.scalars(sa.select(User).where(User.supplier_id == company.id, User.is_active_account)))
    return RegistrationCheck(values=cleaned, account=account, company=company, company_users=users)


def already_registered() -> Conflict:
    return Conflict(
        "already_registered",
        str(
            _l(
                "This link has already been used, or this email address or company has been registered since: "
                "log in, or register again."
            )
        ),
    )


def register_supplier(session: Session, values: SupplierRegistration, password: str) -> User:
    """Create the company and its first user, once the registrant has confirmed the email and chosen a password."""
    check = check_supplier_registration(session, values)
    if check.account is not None or check.company is not None:
        raise already_registered()
    problem = password_problem(password)
    if problem:
        raise ValidationFailed({"password": [problem]})
    values = check.values
    company = SupplierCompany(
        name=values.company_name,
        siret=values.siret,
        postcode=values.postcode,
        city=values.city or None,
        is_sme=values.is_sme,
        trades=[SupplierTrade(cpv_code=code) for code in values.trades],
    )
    user = User(email=values.email, full_name=values.full_name, role="supplier", supplier=company)
    user.set_password(password)
    session.add_all([company, user])
    session.flush()
    return user


def invite_user(
    session: Session, actor: User, email: str, role: str, organization_id: int | None, *, days: int = 7
) -> tuple[Invitation, str]:
    """An admin invites a buyer or a coordinator; returns the invitation and its one-time token."""
    if actor.role != "admin":
        raise NotPermitted(str(_l("Only an administrator can invite users.")))
    reasons: dict[str, list[str]] = {}
    clean, problem = clean_email(email)
    if problem:
        reasons["email"] = [problem]
    elif session.scalar(sa.select(User.id).where(User.email == clean)):
        reasons["email"] = [str(_l("An account already exists with this email address."))]
    if role not in STAFF_ROLES:
        reasons["role"] = [str(_l("Choose buyer or coordinator."))]
    organization = session.get(Organization, organization_id) if organization_id else None
    if role == "buyer" and organization is None:
        reasons["organization_id"] = [str(_l("A buyer belongs to an organization."))]
    if reasons:
        raise ValidationFailed(reasons)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        email=clean,
        role=role,
        organization=organization,
        token_hash=token_digest(token),
        invited_by_id=actor.id,
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def find_invitation(session: Session, token: str) -> Invitation:
    invitation = session.scalar(sa.select(Invitation).where(Invitation.token_hash == token_digest(token or "")))
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= utcnow():
        raise NotFound(str(_l("This invitation link is not valid or has expired. Ask an administrator for a new one.")))
    return invitation


def accept_invitation(session: Session, token: str, full_name: str, password: str) -> User:
    invitation = find_invitation(session, token)
    problem = password_problem(password)
    if problem:
        raise ValidationFailed({"password": [problem]})
    if session.scalar(sa.select(User.id).where(User.email == invitation.email)):
        raise Conflict("email_taken", str(_l("An account already exists with this email address.")))
    user = User(
        email=invitation.email,
        full_name=(full_name or "").strip(),
        role=invitation.role,
        organization_id=invitation.organization_id,
    )
    user.set_password(password)
    invitation.accepted_at = utcnow()
    session.add(user)
    session.flush()
    return user


def issue_api_token(session: Session, user: User, *, hours: int = 12) -> tuple[str, ApiToken]:
    token = secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, token_hash=token_digest(token), expires_at=utcnow() + timedelta(hours=hours))
    session.add(record)
    session.flush()
    audit(session, user, "token.issued", record)
    return token, record


def find_api_token(session: Session, token: str) -> ApiToken | None:
    """The valid token record for a bearer token: not revoked, not expired, of an active account."""
    record = session.scalar(
        sa.select(ApiToken).where(
            ApiToken.token_hash == token_digest(token),
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > utcnow(),
        )
    )
    if record is None or not record.user.is_active:
        return None
    return record


def revoke_api_token(session: Session, record: ApiToken) -> None:
    """Revoke one token (the caller's own): the user's other tokens and sessions go on."""
    record.revoked_at = utcnow()
    session.flush()
    audit(session, record.user, "token.revoked", record)
