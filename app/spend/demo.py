"""Demo spend for `flask seed-demo`.

* Dijon Métropole (DM): the real DECP records of the Ville de Dijon shipped in app/data (273 contracts notified in
  2024 and 2025), imported as open data (a metropole loading the records of the city whose services it shares).
* CHU, UB and GDH: synthetic spend, generated deterministically and marked as such (the import is flagged
  `is_synthetic`, its file is named `depenses-synthetiques-*.csv` and every line says "(synthétique)"). Orders of
  magnitude are fictitious but plausible for organizations of this size; suppliers are the demo supplier registry
  (local companies, their postcode read from the registry) and a few fictitious national companies (postcode in
  the file).

Every file goes through the real import service, so the demo exercises the same path as a user's upload, and a
second run finds the same files already imported (nothing is counted twice).
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.actors import SYSTEM
from app.errors import Conflict
from app.organizations.demo import fake_siret
from app.organizations.models import Organization, SupplierCompany
from app.reference.models import CpvCode

DECP_FILE = Path(__file__).resolve().parents[1] / "data" / "decp_ville_de_dijon_2024_2025.csv"
YEARS = (2024, 2025)

# (CPV code, title, {organization: yearly € excl. VAT}); fictitious orders of magnitude.
THEMES = [
    ("09310000", "Électricité", {"CHU": 4_600_000, "UB": 2_150_000, "GDH": 880_000}),
    ("09123000", "Gaz naturel", {"CHU": 1_900_000, "UB": 760_000, "GDH": 1_250_000}),
    ("90911200", "Nettoyage des locaux", {"CHU": 2_400_000, "UB": 1_100_000, "GDH": 520_000}),
    ("30213000", "Ordinateurs", {"CHU": 720_000, "UB": 1_350_000}),
    ("30192000", "Fournitures de bureau", {"CHU": 95_000, "UB": 120_000, "GDH": 28_000}),
    ("55520000", "Restauration collective", {"CHU": 3_200_000, "UB": 950_000}),
    ("15100000", "Viandes", {"CHU": 640_000, "UB": 150_000}),
    ("03221000", "Légumes frais", {"CHU": 310_000, "UB": 90_000}),
    ("50710000", "Maintenance électrique", {"CHU": 520_000, "UB": 210_000, "GDH": 380_000}),
    ("64200000", "Télécommunications", {"CHU": 680_000, "UB": 410_000, "GDH": 90_000}),
    ("18100000", "Vêtements de travail", {"CHU": 240_000, "GDH": 35_000}),
    ("33600000", "Produits pharmaceutiques", {"CHU": 58_000_000}),
    ("33140000", "Consommables médicaux", {"CHU": 24_000_000}),
    ("33100000", "Équipements médicaux", {"CHU": 11_500_000}),
    ("38000000", "Équipements de laboratoire", {"CHU": 2_900_000, "UB": 1_700_000}),
    ("45453000", "Réhabilitation de logements", {"GDH": 41_000_000}),
    ("45210000", "Travaux de bâtiment", {"UB": 11_800_000, "GDH": 6_200_000, "CHU": 9_500_000}),
    ("50700000", "Maintenance technique des bâtiments", {"GDH": 3_100_000, "UB": 900_000}),
    ("77310000", "Entretien des espaces verts", {"GDH": 610_000, "UB": 280_000}),
    ("79710000", "Sécurité et gardiennage", {"CHU": 1_200_000, "UB": 620_000}),
    ("48000000", "Logiciels", {"CHU": 2_500_000, "UB": 1_600_000, "GDH": 240_000}),
    ("72000000", "Services informatiques", {"CHU": 3_000_000, "UB": 2_000_000}),
    ("90500000", "Collecte des déchets", {"CHU": 1_400_000, "UB": 300_000, "GDH": 210_000}),
    ("66510000", "Assurances", {"CHU": 1_500_000, "UB": 520_000, "GDH": 930_000}),
    ("71000000", "Ingénierie et architecture", {"GDH": 2_500_000, "UB": 1_450_000}),
]
# Fictitious national companies (name, SIRET, postcode, city): checksum-valid made-up SIRETs.
NATIONAL = [
    ("Groupe Énergie France (démo)", "Paris", "75008"),
    ("Santé Distribution Nationale (démo)", "Lyon", "69003"),
    ("Pharma Répartition Est (démo)", "Strasbourg", "67000"),
    ("Numérique Services France (démo)", "Boulogne-Billancourt", "92100"),
    ("Assurances Mutuelles Publiques (démo)", "Niort", "79000"),
    ("Bâtiment Grand Est (démo)", "Nancy", "54000"),
    ("Restauration Collective Nationale (démo)", "Marseille", "13008"),
]
SITES = {
    "CHU": ["site François-Mitterrand", "site du Bocage", "Champmaillot"],
    "UB": ["campus Montmuzard", "IUT de Dijon", "site du Creusot"],
    "GDH": ["patrimoine de Chenôve", "agence Fontaine d'Ouche", "siège"],
}
HEADERS = [
    "Date",
    "Fournisseur",
    "SIRET du fournisseur",
    "Code CPV",
    "Montant HT (€)",
    "Objet",
    "Code postal du fournisseur",
]


def _french(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",")


def _candidates(code: str, companies: list[SupplierCompany]) -> list[SupplierCompany]:
    """Registry companies whose trades cover the CPV code (same division and a common prefix)."""
    found = []
    for company in companies:
        for trade in company.trades:
            stem = trade.cpv_code.rstrip("0") or trade.cpv_code[:2]
            if code.startswith(stem[:3]) or trade.cpv_code.startswith(code.rstrip("0")[:3]):
                found.append(company)
                break
    return found


def synthetic_csv(code: str, companies: list[SupplierCompany], national: list[tuple[str, str, str, str]]) -> bytes:
    """The synthetic spend of one organization as a French CSV (deterministic)."""
    rng = random.Random(f"mutualis-demo-spend-{code}")  # noqa: S311 - fictitious demo data
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    for cpv_code, title, amounts in THEMES:
        yearly = amounts.get(code)
        if not yearly:
            continue
        local = _candidates(cpv_code, companies)
        pool: list[tuple[str, str, str]] = [(c.name, c.siret, "") for c in local[:3]]
        pool += [(name, siret, postcode) for name, siret, postcode, _city in rng.sample(national, 2)]
        rng.shuffle(pool)
        weights = [0.55, 0.25, 0.12, 0.05, 0.03][: len(pool)]
        for year in YEARS:
            total = Decimal(yearly) * Decimal(rng.randint(85, 115)) / 100
            count = max(3, min(24, int(yearly // 150_000) + 3))
            shares = [rng.uniform(0.5, 1.5) for _ in range(count)]
            scale = sum(shares)
            for index, share in enumerate(shares):
                name, siret, postcode = rng.choices(pool, weights=weights)[0]
                amount = (total * Decimal(share / scale)).quantize(Decimal("0.01"))
                if amount <= 0:
                    continue
                day = date(year, 1 + (index * 12 // count), rng.randint(1, 28))
                site = rng.choice(SITES[code])
                writer.writerow(
                    [
                        day.strftime("%d/%m/%Y"),
                        name,
                        siret,
                        cpv_code,
                        _french(amount),
                        f"{title} — {site} (synthétique)",
                        postcode,
                    ]
                )
    return buffer.getvalue().encode("utf-8-sig")


def _national(rng: random.Random) -> list[tuple[str, str, str, str]]:
    return [(name, fake_siret(rng), postcode, city) for name, city, postcode in NATIONAL]


def seed_demo_spend(session: Session) -> int:
    """Import the demo spend (idempotent: a file already imported is skipped). Returns the lines created."""
    from app.spend.services import import_spend

    organizations = {o.code: o for o in session.scalars(sa.select(Organization).where(Organization.is_demo))}
    if not organizations or session.get(CpvCode, "09310000") is None:
        return 0
    companies = list(
        session.scalars(sa.select(SupplierCompany).where(SupplierCompany.is_demo).order_by(SupplierCompany.name))
    )
    national = _national(random.Random(6789))  # noqa: S311 - fictitious identifiers
    created = 0
    files = []
    if "DM" in organizations:
        files.append((organizations["DM"], DECP_FILE.read_bytes(), DECP_FILE.name, "decp", False))
    for code in ("CHU", "UB", "GDH"):
        if code in organizations:
            data = synthetic_csv(code, companies, national)
            files.append((organizations[code], data, f"depenses-synthetiques-{code}.csv", "csv", True))
    for organization, data, filename, fmt, synthetic in files:
        try:
            record = import_spend(
                session, SYSTEM, data, filename, organization=organization, fmt=fmt, is_synthetic=synthetic
            )
        except Conflict:  # already imported by an earlier run
            continue
        created += record.line_count
    return created
