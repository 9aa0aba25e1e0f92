"""Demo organizations, staff accounts and local suppliers for `flask seed-demo`: fictitious, visibly marked, created
idempotently. Also the fictitious SIRETs other demo data and the tests use."""

from __future__ import annotations

import random

import sqlalchemy as sa
from sqlalchemy.orm import Session
from stdnum import luhn

from app.accounts.models import User
from app.organizations.models import Organization, SupplierCompany, SupplierTrade

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


def seed_demo_organizations(session: Session) -> dict[str, int]:
    """The demo organizations, suppliers and accounts; returns how many of each were created (existing ones kept)."""
    counts = {"organizations": 0, "suppliers": 0, "users": 0}
    organizations = {o.code: o for o in session.scalars(sa.select(Organization))}
    # Fictitious SIRETs (checksum-valid, not the real ones): open data identifies buyers by SIRET.
    org_rng = random.Random(21100)  # noqa: S311 - deterministic fictitious identifiers, not secrets
    for code, name, kind, postcode in ORGANIZATIONS:
        siret = fake_siret(org_rng)
        if code not in organizations:
            organizations[code] = Organization(
                code=code, name=name, kind=kind, postcode=postcode, siret=siret, is_demo=True
            )
            session.add(organizations[code])
            counts["organizations"] += 1
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
            counts["suppliers"] += 1
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
        counts["users"] += 1
    session.flush()
    return counts
