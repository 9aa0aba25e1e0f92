"""Who acts: the roles that see or manage everything, the system actor (the command line and the scheduler act as
the system when no person does), and the one role check the services start with."""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import AnonymousUserMixin

from app.errors import NotPermitted

COORDINATORS = ("coordinator", "system")  # who manages groups and calls
ADMINS = ("admin", "system")  # who changes reference data and rolls imports back
SEE_ALL = ("coordinator", "admin", "system")  # who reads every organization's groups, calls and spend


@dataclass(frozen=True)
class SystemActor:
    role: str = "system"
    id: None = None
    organization_id: None = None
    supplier_id: None = None
    email: str = "system"
    display_name: str = "Mutualis"


SYSTEM = SystemActor()


class AnonymousActor(AnonymousUserMixin):
    """A visitor without an account: reads what is public (published calls and their open data), nothing else."""

    role = "anonymous"
    id = None
    organization_id = None
    organization = None
    supplier_id = None
    supplier = None


def require_role(actor, roles: tuple[str, ...], message) -> None:
    """Refuse (403) an actor whose role is not one of `roles`, with `message` (a lazy string is rendered now)."""
    if actor.role not in roles:
        raise NotPermitted(str(message))
