"""Demo data for `flask seed-demo`: fictitious, visibly marked, created idempotently."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from stdnum import luhn

from app.accounts.models import User
from app.clock import paris_today, utcnow
from app.organizations.models import Organization, SupplierCompany, SupplierTrade
from app.spend.demo import seed_demo_spend

log = logging.getLogger("mutualis.demo")

DEMO_PASSWORD = "mutualis-demo"  # noqa: S105 - documented demo password, seeded only on request
DEMO_MARK = " (démo)"

ORGANIZATIONS = [
    # code, name, kind, postcode
    ("CHU", "CHU Dijon Bourgogne", "hospital", "21000"),
    ("UB", "Université de Bourgogne", "university", "21000"),
    ("GDH", "Grand Dijon Habitat", "social_housing", "21000"),
    ("DM", "Dijon Métropole", "local_authority", "21000"),
]

STAFF = [
    ("admin@demo.mutualis.fr", "Administration Mutualis", "admin", None),
    ("coordination@demo.mutualis.fr", "Coordination des achats", "coordinator", "DM"),
    ("achats.chu@demo.mutualis.fr", "Achats CHU", "buyer", "CHU"),
    ("achats.ub@demo.mutualis.fr", "Achats Université", "buyer", "UB"),
    ("achats.gdh@demo.mutualis.fr", "Achats Grand Dijon Habitat", "buyer", "GDH"),
    ("achats.metropole@demo.mutualis.fr", "Achats Métropole", "buyer", "DM"),
]

# Fictitious local companies: (name, postcode, city, SME, trades as CPV codes).
SUPPLIERS = [
    ("Énergies Côte-d'Or", "21000", "Dijon", False, ["09310000", "09123000"]),
    ("Bourgogne Propreté Services", "21300", "Chenôve", True, ["90910000", "90919200"]),
    ("Nettoyage du Val de Saône", "21110", "Genlis", True, ["90910000"]),
    ("Informatique Dijonnaise", "21000", "Dijon", True, ["30200000", "30213000", "72000000"]),
    ("Numérique Franche-Comté", "25000", "Besançon", True, ["48000000", "72000000"]),
    ("Papeterie des Ducs", "21000", "Dijon", True, ["30192000", "30197000", "22100000"]),
    ("Bureau Équipement Beaune", "21200", "Beaune", True, ["39130000", "30192000"]),
    ("Saveurs de l'Auxois", "21500", "Montbard", True, ["15000000", "15800000"]),
    ("Restauration Collective Bourguignonne", "21800", "Quetigny", False, ["55520000", "15800000"]),
    ("Maraîchers de la Plaine Dijonnaise", "21110", "Genlis", True, ["03000000", "15000000"]),
    ("Maintenance Technique 21", "21600", "Longvic", True, ["50000000", "50700000"]),
    ("Électricité Générale Chalonnaise", "71100", "Chalon-sur-Saône", True, ["45310000", "50700000"]),
    ("Bâtiment Rénovation Bourgogne", "21240", "Talant", True, ["45453000", "44110000"]),
    ("Espaces Verts du Dijonnais", "21850", "Saint-Apollinaire", True, ["77310000"]),
    ("Paysages de Saône-et-Loire", "71000", "Mâcon", True, ["77310000"]),
    ("Imprimerie du Morvan", "58000", "Nevers", True, ["79800000", "22100000"]),
    ("Sécurité Bourgogne Surveillance", "21000", "Dijon", True, ["79710000"]),
    ("Collecte et Recyclage de l'Yonne", "89000", "Auxerre", False, ["90500000", "90511000"]),
    ("Transports Jurassiens", "39000", "Lons-le-Saunier", True, ["60100000"]),
    ("Véhicules Utilitaires de Haute-Saône", "70000", "Vesoul", True, ["34100000", "50000000"]),
    ("Vêtements Pro Belfort", "90000", "Belfort", True, ["18100000"]),
    ("Médical Services Bourgogne", "21000", "Dijon", True, ["33140000"]),
    ("Consommables Hospitaliers de l'Est", "25000", "Besançon", False, ["33140000"]),
    ("Mobilier Creusotin", "71200", "Le Creusot", True, ["39130000"]),
    ("Chauffage Gaz Côte-d'Or", "21121", "Fontaine-lès-Dijon", True, ["09123000", "50700000"]),
    ("Solaire Bourgogne Énergies", "21160", "Marsannay-la-Côte", True, ["09310000"]),
    ("Traiteur des Climats", "21200", "Beaune", True, ["55520000"]),
    ("Logiciels Libres Bourgogne", "21000", "Dijon", True, ["48000000", "72000000"]),
    ("Travaux Publics Châtillonnais", "21400", "Châtillon-sur-Seine", False, ["45453000", "45310000"]),
    ("Entretien Multiservices Nivernais", "58000", "Nevers", True, ["90910000", "50700000"]),
    ("Fournitures Scolaires Sénonaises", "89100", "Sens", True, ["30192000", "22100000"]),
    ("Boulangerie Artisanale Dijonnaise", "21000", "Dijon", True, ["15800000"]),
]


def fake_siret(rng: random.Random) -> str:
    """A checksum-valid SIRET: a Luhn-valid SIREN, a NIC, then a digit making all 14 Luhn-valid."""
    siren8 = str(rng.randint(30_000_000, 99_999_999))
    siren = siren8 + luhn.calc_check_digit(siren8)
    nic4 = f"{rng.randint(1, 9999):04d}"
    body = siren + nic4
    return body + luhn.calc_check_digit(body)


@dataclass
class SeedReport:
    organizations: int = 0
    users: int = 0
    suppliers: int = 0
    needs: int = 0
    spend_lines: int = 0
    groups: int = 0


def seed_demo(session: Session, today: date | None = None) -> SeedReport:
    report = SeedReport()
    organizations = {o.code: o for o in session.scalars(sa.select(Organization))}
    for code, name, kind, postcode in ORGANIZATIONS:
        if code not in organizations:
            organizations[code] = Organization(code=code, name=name, kind=kind, postcode=postcode, is_demo=True)
            session.add(organizations[code])
            report.organizations += 1
    session.flush()

    rng = random.Random(21000)  # noqa: S311 - deterministic fictitious identifiers, not secrets
    existing_companies = {c.name: c for c in session.scalars(sa.select(SupplierCompany))}
    companies = []
    for name, postcode, city, sme, trades in SUPPLIERS:
        siret = fake_siret(rng)
        full_name = name + DEMO_MARK
        company = existing_companies.get(full_name)
        if company is None:
            company = SupplierCompany(
                name=full_name,
                siret=siret,
                postcode=postcode,
                city=city,
                is_sme=sme,
                is_demo=True,
                trades=[SupplierTrade(cpv_code=code) for code in trades],
            )
            session.add(company)
            report.suppliers += 1
        companies.append(company)
    session.flush()

    users = {u.email: u for u in session.scalars(sa.select(User))}
    wanted = [(email, name, role, organizations[org] if org else None, None) for email, name, role, org in STAFF]
    wanted += [
        (f"fournisseur{i}@demo.mutualis.fr", f"Fournisseur démo {i}", "supplier", None, companies[i - 1])
        for i in (1, 2, 3)
    ]
    for email, name, role, organization, company in wanted:
        if email in users:
            continue
        user = User(email=email, full_name=name, role=role, organization=organization, supplier=company, is_demo=True)
        user.set_password(DEMO_PASSWORD)
        session.add(user)
        report.users += 1
    session.flush()
    report.needs = seed_demo_needs(session, today or paris_today())
    report.spend_lines = seed_demo_spend(session)
    from app.calls.demo import seed_demo_groups_and_calls

    report.groups = seed_demo_groups_and_calls(session)
    return report


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


def seed_demo_needs(session: Session, today, target: int = 200) -> int:
    """About 200 submitted needs across the four organizations: clear overlaps, some alone. Idempotent."""
    from datetime import timedelta

    from dateutil.relativedelta import relativedelta

    from app.needs.models import Need

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
