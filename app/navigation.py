"""The main menu per role: a feature adds its entries here when it exists (no dead links)."""

from __future__ import annotations

from flask import Flask, g
from flask_babel import lazy_gettext as _l
from flask_login import current_user

ROLE_LABELS = {
    "admin": _l("Administrator"),
    "coordinator": _l("Purchasing coordinator"),
    "buyer": _l("Buyer"),
    "supplier": _l("Supplier"),
}

KIND_LABELS = {
    "hospital": _l("Hospital"),
    "university": _l("University"),
    "social_housing": _l("Social housing"),
    "local_authority": _l("Local authority"),
    "other": _l("Other"),
}

# (endpoint, label, roles)
MENU = [
    ("needs.list_needs", _l("Needs"), ("buyer", "coordinator", "admin")),
    ("overlaps.overlap_map", _l("Overlap map"), ("buyer", "coordinator", "admin")),
    ("groups.list_groups", _l("Groups"), ("buyer", "coordinator", "admin")),
    ("calls.list_calls", _l("Calls for tenders"), ("supplier", "buyer", "coordinator", "admin")),
    ("calls.my_bids", _l("My bids"), ("supplier",)),
    ("contracts.list_contracts", _l("Contracts"), ("supplier", "buyer", "coordinator", "admin")),
    ("spend.spend_map", _l("Spend map"), ("buyer", "coordinator", "admin")),
    ("spend.impact", _l("Impact"), ("buyer", "coordinator", "admin")),
    ("impact.portfolio", _l("Climate portfolio"), ("buyer", "coordinator", "admin")),
    ("organizations.organizations", _l("Organizations"), ("admin",)),
    ("organizations.users", _l("Users"), ("admin",)),
    ("organizations.suppliers", _l("Suppliers"), ("admin", "coordinator")),
    ("audit.audit_trail", _l("Audit trail"), ("admin",)),
]

ADMIN_SECTION = (
    "organizations.organizations",
    "organizations.users",
    "organizations.suppliers",
    "audit.audit_trail",
)
# Entries grouped under one menu entry each, so that the menu holds on one line at 1,366 px: (id, label, endpoints,
# roles for which the group applies).
SECTIONS = [
    ("analysis-menu", _l("Spend and impact"), ("spend.spend_map", "spend.impact", "impact.portfolio"), None),
    ("admin-menu", _l("Administration"), ADMIN_SECTION, ("admin",)),
]


def register(app: Flask) -> None:
    @app.context_processor
    def navigation():
        items: list = []
        if current_user.is_authenticated:
            items = [(endpoint, label) for endpoint, label, roles in MENU if current_user.role in roles]
            for menu_id, title, endpoints, roles in SECTIONS:
                if roles is not None and current_user.role not in roles:
                    continue
                grouped = [item for item in items if item[0] in endpoints]
                if len(grouped) < 2:
                    continue
                # The group takes the place of its first entry.
                at = items.index(grouped[0])
                items = [item for item in items if item[0] not in endpoints]
                items.insert(at, (menu_id, title, grouped))
        return {
            "nav_items": [(item[0], item[1], item[2] if len(item) == 3 else None) for item in items],
            "role_label": lambda role: ROLE_LABELS.get(role, role),
            "kind_label": lambda kind: KIND_LABELS.get(kind, kind),
            "unread_notifications": _unread_notifications,
        }


def _unread_notifications() -> int:
    """The bell's badge: one COUNT per request, only for a logged-in user (called from base.html)."""
    if not current_user.is_authenticated:
        return 0
    if "unread_notifications" not in g:
        from app.extensions import db
        from app.notifications.services import unread_count

        g.unread_notifications = unread_count(db.session, current_user)
    return g.unread_notifications
