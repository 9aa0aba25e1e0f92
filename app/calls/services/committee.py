"""The opening committee of a call: named when the call is drafted, enrolled with a passphrase each before
publication, and opening the bids after the deadline once a quorum of members has given its passphrase.

Publication splits the call's private key two-of-three (Shamir) and seals each member's share to the key pair the
member enrolled, whose private half only the member's passphrase opens (Argon2id). At the opening, each member's
share is kept (under the server key) until the quorum is reached; then the key is rebuilt, checked against the
call's public key, used to open the bids and forgotten, and the pending shares are erased. A lost passphrase is
covered by the two other members. A wrong passphrase is refused with the same answer whatever was wrong.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.actors import COORDINATORS, SEE_ALL, require_role
from app.audit.services import record
from app.calls.models import Call, CommitteeMember, OpeningRecord
from app.calls.services import sealing as call_sealing
from app.calls.services.deadlines import _flag_abnormally_low, ensure_closed
from app.clock import utcnow
from app.domain import sealing
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.groups.models import PurchaseGroup

COMMITTEE_SIZE = 3
QUORUM = 2
MAX_PASSPHRASE_LENGTH = 1024


def _eligible(group: PurchaseGroup, user: User | None) -> bool:
    """A coordinator, or a buyer of an organization that is a member of the group."""
    if user is None or not user.is_active_account:
        return False
    if user.role in COORDINATORS:
        return True
    members = {m.organization_id for m in group.memberships if m.status in ("signed", "confirmed")}
    return user.role == "buyer" and user.organization_id in members


def name_committee(session: Session, call: Call, group: PurchaseGroup, emails: list[str] | None, quorum) -> None:
    """At drafting: three distinct eligible members by account email, quorum 2. Nothing given: no committee (the
    call is sealed under the server key and opened automatically at its deadline)."""
    if emails is None and quorum is None:
        return
    reasons: dict[str, list[str]] = {}
    emails = [str(e).strip().lower() for e in (emails or [])]
    if len(emails) != COMMITTEE_SIZE or len(set(emails)) != COMMITTEE_SIZE:
        reasons["opening_committee"] = [str(_l("Name three different members by their account email."))]
    if quorum is not None and quorum != QUORUM:
        reasons["opening_quorum"] = [str(_l("The quorum of the opening committee is 2."))]
    users = []
    if not reasons:
        found = {
            u.email.lower(): u for u in session.scalars(sa.select(User).where(sa.func.lower(User.email).in_(emails)))
        }
        for index, email in enumerate(emails):
            user = found.get(email)
            if not _eligible(group, user):
                reasons[f"opening_committee.{index}"] = [
                    str(_l("Not a coordinator nor a buyer of a member organization of the group."))
                ]
            users.append(user)
    if reasons:
        raise ValidationFailed(reasons)
    call.opening_quorum = QUORUM
    for position, user in enumerate(users, start=1):
        call.committee.append(CommitteeMember(user_id=user.id, position=position))


def _member(call: Call, actor) -> CommitteeMember:
    member = next((m for m in call.committee if m.user_id == getattr(actor, "id", None)), None)
    if member is None:
        raise NotPermitted(str(_l("Only the members of the call's opening committee may do this.")))
    return member


def _check_passphrase(passphrase) -> str:
    passphrase = passphrase if isinstance(passphrase, str) else ""
    if not sealing.MIN_PASSPHRASE_LENGTH <= len(passphrase) <= MAX_PASSPHRASE_LENGTH:
        raise ValidationFailed(
            {
                "passphrase": [
                    str(
                        _l(
                            "A passphrase of %(min)d to %(max)d characters.",
                            min=sealing.MIN_PASSPHRASE_LENGTH,
                            max=MAX_PASSPHRASE_LENGTH,
                        )
                    )
                ]
            }
        )
    return passphrase


def enrol(session: Session, actor, call: Call, passphrase: str) -> CommitteeMember:
    """A member sets (or sets again) a passphrase for the call, before publication."""
    member = _member(call, actor)
    if call.status != "draft":
        raise Conflict("call_not_draft", str(_l("Enrolment closes at publication: the call's key is already shared.")))
    key = sealing.enrol_member(_check_passphrase(passphrase), call_sealing.kdf_strength())
    member.public_key, member.wrapped_private_key, member.kdf_salt = key.public, key.wrapped_private, key.salt
    member.kdf_opslimit, member.kdf_memlimit = key.opslimit, key.memlimit
    member.enrolled_at = utcnow()
    session.flush()
    record(session, actor, "committee.enrolled", call, position=member.position)
    return member


def require_enrolled(call: Call) -> None:
    missing = [m for m in call.committee if m.enrolled_at is None]
    if missing:
        raise Conflict(
            "committee_not_enrolled",
            str(
                _l(
                    "Every member of the opening committee must set a passphrase before publication (%(count)d "
                    "missing).",
                    count=len(missing),
                )
            ),
        )


def share_call_key(call: Call) -> None:
    """At publication: the call's key pair; with a committee, its private key split two-of-three, each share sealed
    to a member's key, and the key itself dropped."""
    private_key = call_sealing.create_call_keys(call)
    if not call_sealing.has_committee(call):
        return
    shares = sealing.split_key(private_key, COMMITTEE_SIZE, call.opening_quorum)
    for member, (index, share) in zip(call.committee, shares, strict=True):
        member.share_index = index
        member.sealed_share = sealing.seal(member.public_key, share)


def _refused(call: Call, member: CommitteeMember) -> ValidationFailed:
    error = ValidationFailed({"passphrase": [str(_l("This passphrase does not open your share."))]})
    error.audit = ("opening.refused", call, {"position": member.position})
    return error


def give_passphrase(session: Session, actor, call: Call, passphrase: str) -> dict:
    """After the deadline, a member opens its share with its passphrase; at the quorum the bids are opened.
    Returns the state: {"opened", "given", "quorum"}."""
    member = _member(call, actor)
    ensure_closed(session, call)
    if call.status in ("draft", "published", "cancelled") or call.public_key is None:
        raise Conflict("call_not_closed", str(_l("The bids can be opened only after the deadline.")))
    if call.opened_at is not None:
        raise Conflict("bids_already_opened", str(_l("The bids of this call are already opened.")))
    passphrase = passphrase if isinstance(passphrase, str) else ""
    try:
        own_key = sealing.member_private_key(
            sealing.MemberKey(
                member.public_key,
                member.wrapped_private_key,
                member.kdf_salt,
                member.kdf_opslimit,
                member.kdf_memlimit,
            ),
            passphrase,
        )
        share = sealing.unseal(own_key, member.sealed_share)
    except sealing.SealError:
        raise _refused(call, member) from None
    server_key = call_sealing.server_key()
    member.pending_share = sealing.secret_wrap(server_key, share)
    member.opened_at = utcnow()
    session.flush()
    record(session, actor, "opening.share_given", call, position=member.position)
    given = [m for m in call.committee if m.pending_share is not None]
    if len(given) < call.opening_quorum:
        return {"opened": False, "given": len(given), "quorum": call.opening_quorum}
    shares = [(m.share_index, sealing.secret_unwrap(server_key, m.pending_share)) for m in given]
    try:
        private_key = sealing.combine_key(shares, call.public_key)
    except sealing.SealError:  # a share altered in the database: the key rebuilt is not the call's
        raise Conflict("opening_failed", str(_l("The shares given do not rebuild the call's key."))) from None
    names = [m.user.display_name for m in given]
    call_sealing.open_bids(session, actor, call, private_key, automatic=False, opened_by=names)
    for m in call.committee:
        m.pending_share = None
    _flag_abnormally_low(session, call)
    return {"opened": True, "given": len(given), "quorum": call.opening_quorum}


def committee_state(call: Call, actor) -> dict:
    """What a page shows: the members, who enrolled, who gave their passphrase at the opening, and the actor's
    place."""
    return {
        "members": call.committee,
        "quorum": call.opening_quorum,
        "me": next((m for m in call.committee if m.user_id == getattr(actor, "id", None)), None),
        "opened": call.opened_at is not None,
    }


def get_opening_record(session: Session, actor, call: Call) -> OpeningRecord:
    """The opening record, for the coordinators, administrators and the group's buyers who see the call (the
    caller checked it is visible), and the committee's members; 409 bids_not_opened before the opening."""
    member = any(m.user_id == getattr(actor, "id", None) for m in call.committee)
    if not member:
        require_role(actor, ("buyer", *SEE_ALL), _l("The opening record is for the buyers of the group."))
    call_sealing.require_opened(call)
    found = call_sealing.opening_record(session, call)
    if found is None:  # a call published before sealing existed: no opening took place
        raise NotFound(str(_l("This call has no opening record.")))
    return found
