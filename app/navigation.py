"""The main menu per role: a feature adds its entries here when it exists (no dead links)."""

from __future__ import annotations

from flask import Flask
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
    ("organizations.organizations", _l("Organizations"), ("admin",)),
    ("organizations.users", _l("Users"), ("admin",)),
    ("organizations.suppliers", _l("Suppliers"), ("admin", "coordinator")),
]


def register(app: Flask) -> None:
    @app.context_processor
    def navigation():
        items = []
        if current_user.is_authenticated:
            items = [(endpoint, label) for endpoint, label, roles in MENU if current_user.role in roles]
        return {
            "nav_items": items,
            "role_label": lambda role: ROLE_LABELS.get(role, role),
            "kind_label": lambda kind: KIND_LABELS.get(kind, kind),
        }
