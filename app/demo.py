"""Demo data for `flask seed-demo`: fictitious, visibly marked, created idempotently.

Each feature seeds its own part through its own module (organizations and accounts, needs, spend, groups and
calls); this module only runs them in order and counts what was created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from app.calls.demo import seed_demo_groups_and_calls
from app.clock import paris_today
from app.contracts.demo import seed_demo_contracts
from app.needs.demo import seed_demo_needs
from app.organizations.demo import seed_demo_organizations
from app.spend.demo import seed_demo_spend


@dataclass
class SeedReport:
    organizations: int = 0
    users: int = 0
    suppliers: int = 0
    needs: int = 0
    spend_lines: int = 0
    groups: int = 0
    orders: int = 0


def seed_demo(session: Session, today: date | None = None) -> SeedReport:
    report = SeedReport(**seed_demo_organizations(session))
    report.needs = seed_demo_needs(session, today or paris_today())
    report.spend_lines = seed_demo_spend(session)
    report.groups = seed_demo_groups_and_calls(session)
    report.orders = seed_demo_contracts(session)
    return report
