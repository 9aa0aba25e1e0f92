"""Demo procurement needs for `flask seed-demo`: about 200 submitted needs across the four demo organizations, with
clear overlaps, needs of one organization alone, and one organization splitting an order (a splitting warning)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.needs.models import Need
from app.organizations.models import Organization

# Needs themes: (CPV code, title, {organization: yearly amount in € HT}, typical duration in months).
# Amounts are fictitious orders of magnitude for organizations of this size.
NEED_THEMES = [
    ("09310000", "Fourniture d'électricité", {"CHU": 4_600_000, "UB": 2_150_000, "GDH": 880_000, "DM": 3_100_000}, 36),
    ("09123000", "Fourniture de gaz naturel", {"CHU": 1_900_000, "UB": 760_000, "GDH": 1_250_000, "DM": 640_000}, 36),
    ("90911200", "Nettoyage des locaux", {"CHU": 2_400_000, "UB": 1_100_000, "GDH": 520_000, "DM": 870_000}, 48),
    ("90919200", "Nettoyage de bureaux", {"UB": 180_000, "GDH": 95_000, "DM": 260_000}, 36),
    ("39830000", "Produits d'entretien", {"CHU": 210_000, "GDH": 38_000, "DM": 64_000}, 24),
    ("30213000", "Ordinateurs portables et fixes", {"CHU": 720_000, "UB": 1_350_000, "DM": 480_000}, 36),
    ("30232100", "Imprimantes et traceurs", {"CHU": 85_000, "UB": 140_000, "GDH": 22_000, "DM": 60_000}, 48),
    ("72500000", "Maintenance informatique", {"CHU": 390_000, "UB": 260_000, "DM": 310_000}, 36),
    ("30192000", "Fournitures de bureau", {"CHU": 95_000, "UB": 120_000, "GDH": 28_000, "DM": 70_000}, 24),
    ("30199000", "Papeterie et articles en papier", {"CHU": 60_000, "UB": 88_000, "DM": 41_000}, 24),
    ("55520000", "Restauration collective (traiteur)", {"CHU": 3_200_000, "UB": 950_000, "DM": 420_000}, 48),
    ("55523100", "Restauration scolaire", {"DM": 5_600_000}, 48),
    ("15100000", "Viandes pour la restauration", {"CHU": 640_000, "UB": 150_000, "DM": 210_000}, 12),
    ("03221000", "Légumes frais de saison", {"CHU": 310_000, "UB": 90_000, "DM": 185_000}, 12),
    (
        "50710000",
        "Maintenance des installations électriques",
        {"CHU": 520_000, "UB": 210_000, "GDH": 380_000, "DM": 290_000},
        48,
    ),
    ("50730000", "Maintenance des groupes de réfrigération", {"CHU": 260_000, "UB": 75_000, "GDH": 40_000}, 36),
    ("50112000", "Entretien des véhicules", {"GDH": 48_000, "DM": 330_000}, 24),
    ("64200000", "Services de télécommunications", {"CHU": 680_000, "UB": 410_000, "GDH": 90_000, "DM": 360_000}, 36),
    ("18100000", "Vêtements de travail", {"CHU": 240_000, "GDH": 35_000, "DM": 120_000}, 24),
    # needs of one organization only: no overlap
    ("33600000", "Produits pharmaceutiques", {"CHU": 9_800_000}, 12),
    ("38000000", "Équipements de laboratoire", {"UB": 1_700_000}, 24),
    ("45453000", "Réhabilitation de logements", {"GDH": 6_200_000}, 24),
    ("45233140", "Travaux routiers", {"DM": 7_400_000}, 36),
    ("77310000", "Entretien des espaces verts", {"DM": 980_000}, 36),
    ("79530000", "Services de traduction", {"UB": 45_000}, 24),
]
SITES = {
    "CHU": ["site François-Mitterrand", "site du Bocage", "Champmaillot"],
    "UB": ["campus Montmuzard", "IUT de Dijon", "site du Creusot"],
    "GDH": ["patrimoine de Chenôve", "agence Fontaine d'Ouche", "siège"],
    "DM": ["hôtel de métropole", "centres techniques", "écoles"],
}
SITE_POSTCODES = {"CHU": "21000", "UB": "21000", "GDH": "21300", "DM": "21000"}
# Energy needs carry their yearly quantity in MWh (so that their carbon is estimated from physical factors), derived
# from the amount with a fictitious order-of-magnitude price in € HT per MWh.
DEMO_PRICE_PER_MWH = {"09310000": Decimal(200), "09123000": Decimal(90)}


def _demo_quantity(code: str, amount: Decimal) -> dict:
    price = DEMO_PRICE_PER_MWH.get(code)
    return {"quantity": (amount / price).quantize(Decimal("1")), "unit": "MWh"} if price else {}


def seed_demo_needs(session: Session, today, target: int = 200) -> int:
    """About 200 submitted needs across the four organizations: clear overlaps, some alone. Idempotent."""
    organizations = {o.code: o for o in session.scalars(sa.select(Organization).where(Organization.is_demo))}
    if not organizations or session.scalar(
        sa.select(sa.func.count(Need.id)).where(Need.organization_id.in_([o.id for o in organizations.values()]))
    ):
        return 0
    rng = random.Random(2027)  # noqa: S311 - fictitious demo data
    needs = []
    month_one = today.replace(day=1)
    while len(needs) < target:
        for code, title, amounts, duration in NEED_THEMES:
            for org, yearly in amounts.items():
                if len(needs) >= target or org not in organizations:
                    continue
                site = rng.choice(SITES[org])
                start = month_one + relativedelta(months=rng.randint(1, 20))
                renewal = rng.random() < 0.4
                share = Decimal(rng.randint(70, 130)) / 100
                amount = (Decimal(yearly) * share / max(1, len(needs) // 110 + 1)).quantize(Decimal("1"))
                needs.append(
                    Need(
                        organization_id=organizations[org].id,
                        title=f"{title} — {site}",
                        description="Besoin fictif de démonstration.",
                        cpv_code=code,
                        annual_amount=amount,
                        start_date=start,
                        duration_months=duration,
                        current_contract_end=(start - timedelta(days=1)) if renewal else None,
                        delivery_postcode=SITE_POSTCODES[org],
                        environmental_criterion=rng.random() < 0.5,
                        social_clause=rng.random() < 0.3,
                        short_supply_chain=code.startswith(("03", "15")),
                        status="submitted",
                        submitted_at=utcnow(),
                        **_demo_quantity(code, amount),
                    )
                )
    # One organization splitting office supplies into small orders within one year (a splitting warning).
    year_start = date(month_one.year + 1, 1, 1)
    for month in (1, 5, 9):
        needs.append(
            Need(
                organization_id=organizations["DM"].id,
                title=f"Fournitures de bureau — commande {month}",
                description="Besoin fictif de démonstration.",
                cpv_code="30192000",
                annual_amount=Decimal("24000"),
                start_date=year_start.replace(month=month),
                duration_months=12,
                delivery_postcode="21000",
                status="submitted",
                submitted_at=utcnow(),
            )
        )
    session.add_all(needs)
    session.flush()
    return len(needs)
