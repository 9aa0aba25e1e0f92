"""A synthetic Mutualis dataset at the scale of ten metropoles, the same for a given seed on every machine.

Usage: ./scripts/generate-data [--scale full|tenth|hundredth] [--seed N] [--out DIR] [--load DATABASE_URL]

full: 20 buyer organizations, 1,000,000 spend lines, 100,000 needs, 2,000 suppliers, 500 calls, 20,000 bids;
tenth and hundredth divide every count but the organizations by 10 and 100.

It writes French import files into DIR (`;` separators, decimal commas, dates DD/MM/YYYY, UTF-8):
- `spend/all.csv`: every spend line in one ledger, and `spend/part-01.csv` .. `part-10.csv`: the same lines in ten
  files (consecutive slices), for the import benchmarks;
- `spend/<CODE>.csv` and `needs/<CODE>.csv`: each organization's own spend ledger and needs, as a buyer imports them.

With --load it migrates the database at DATABASE_URL and fills it directly: organizations, accounts (one password
for all, see BENCH_PASSWORD), suppliers with their trades, each organization's spend through the import service (the
same checks, a block of lines per slice, cells summed from the slices), needs, and constituted purchase groups each with
one closed call and its sealed bids (Core bulk inserts).

Spend is drawn the way ledgers look: each organization buys a category from a few suppliers again and again (a
portfolio of recurring supplier × code pairs), so a million lines make tens of thousands of cells; organizations
share codes, so their needs overlap.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from app.domain.spend_import import generic_column_labels

DATA = Path(__file__).resolve().parents[1] / "app" / "data"
BENCH_PASSWORD = "bench-password-2026"  # noqa: S105 - the synthetic accounts' password, printed for the bench
SPEND_HEADER = tuple(generic_column_labels("fr").values())  # the template's French headers
NEED_HEADER = (
    "Intitulé",
    "Code CPV",
    "Montant annuel HT (€)",
    "Date de début",
    "Durée (mois)",
    "Code postal de livraison",
)
PARTS = 10
FIRST_DAY, DAYS = date(2021, 1, 1), 5 * 365
KINDS = ("local_authority", "hospital", "university", "social_housing", "other")


@dataclass(frozen=True)
class Scale:
    organizations: int
    spend_lines: int
    needs: int
    suppliers: int
    calls: int
    bids: int

    @classmethod
    def named(cls, name: str) -> Scale:
        divisor = {"full": 1, "tenth": 10, "hundredth": 100}[name]
        return cls(20, 1_000_000 // divisor, 100_000 // divisor, 2_000 // divisor, 500 // divisor, 20_000 // divisor)


@dataclass
class Dataset:
    scale: Scale
    seed: int
    organizations: pd.DataFrame  # code, name, siret, kind, postcode
    suppliers: pd.DataFrame  # name, siret, postcode, city
    spend: pd.DataFrame  # organization, and the ledger's columns as text (SPEND_HEADER)
    needs: pd.DataFrame  # organization, and NEED_HEADER as text
    calls: pd.DataFrame  # coordinator, members (list of codes), cpv, estimated
    bids: pd.DataFrame  # call (position), supplier (position), amount


def _siret(rng: np.random.Generator, count: int, prefix: str = "") -> list[str]:
    """Distinct 14-digit SIRETs passing the Luhn check (the last digit completes the sum)."""
    bodies = rng.choice(10**12, size=count, replace=False)
    result = []
    for body in bodies.tolist():
        digits = f"{prefix}{body:012d}"[:13].rjust(13, "0")
        total = 0
        for position, char in enumerate(digits):  # positions 0, 2, ... are doubled once a 14th digit is added
            value = int(char) * (2 if position % 2 == 0 else 1)
            total += value - 9 if value > 9 else value
        result.append(digits + str((10 - total % 10) % 10))
    return result


def _codes(rng: np.random.Generator, count: int) -> np.ndarray:
    catalogue = pd.read_csv(DATA / "cpv_2008.csv", dtype=str, keep_default_na=False)
    # Categories and below, as ledgers code them (divisions and groups are too broad for a purchase).
    leaves = catalogue["code"][catalogue["code"].str.rstrip("0").str.len() >= 5].to_numpy()
    return rng.choice(leaves, size=min(count, len(leaves)), replace=False)


def _french_amounts(cents: np.ndarray) -> pd.Series:
    cents = pd.Series(cents.astype(np.int64))
    return (cents // 100).astype(str) + "," + (cents % 100).astype(str).str.zfill(2)


def _french_dates(days: np.ndarray) -> pd.Series:
    stamps = pd.Timestamp(FIRST_DAY) + pd.to_timedelta(days, unit="D")
    return pd.Series(stamps.strftime("%d/%m/%Y"))


def generate(scale: Scale, seed: int = 11) -> Dataset:
    rng = np.random.default_rng(seed)
    communes = pd.read_csv(DATA / "dijon_metropole_communes.csv", dtype=str, keep_default_na=False)
    orgs = pd.DataFrame(
        {
            "code": [f"B{i:02d}" for i in range(scale.organizations)],
            "name": [f"Acheteur synthétique {i:02d}" for i in range(scale.organizations)],
            "siret": _siret(rng, scale.organizations, "2"),
            "kind": [KINDS[i % len(KINDS)] for i in range(scale.organizations)],
            "postcode": ["21000"] * scale.organizations,
        }
    )
    local = rng.random(scale.suppliers) < 0.4
    commune = rng.integers(0, len(communes), scale.suppliers)
    far = rng.integers(1, 96, scale.suppliers)
    postcodes = np.where(
        local, communes["postcode"].to_numpy()[commune], np.char.add(np.char.zfill(far.astype(str), 2), "100")
    )
    cities = np.where(local, communes.iloc[:, 0].to_numpy()[commune], "Ville " + pd.Series(far).astype(str))
    suppliers = pd.DataFrame(
        {
            "name": [f"Fournisseur {i:04d}" for i in range(scale.suppliers)],
            "siret": _siret(rng, scale.suppliers, "4"),
            "postcode": postcodes,
            "city": cities,
        }
    )
    codes = _codes(rng, 600)

    # Spend: each organization a portfolio of recurring (supplier, code) pairs, chosen with skewed weights.
    pairs = 300
    portfolio_supplier = rng.integers(0, scale.suppliers, (scale.organizations, pairs))
    portfolio_code = rng.choice(codes[:300], (scale.organizations, pairs))
    weights = 1 / np.arange(1, pairs + 1)
    weights /= weights.sum()
    n = scale.spend_lines
    org = rng.integers(0, scale.organizations, n)
    pair = rng.choice(pairs, n, p=weights)
    supplier = portfolio_supplier[org, pair]
    cents = np.maximum(100, np.round(rng.lognormal(mean=7.5, sigma=1.4, size=n) * 100)).astype(np.int64)
    spend = pd.DataFrame(
        {
            "organization": orgs["code"].to_numpy()[org],
            "Date": _french_dates(rng.integers(0, DAYS, n)),
            "Fournisseur": suppliers["name"].to_numpy()[supplier],
            "SIRET du fournisseur": suppliers["siret"].to_numpy()[supplier],
            "Code CPV": portfolio_code[org, pair],
            "Montant HT (€)": _french_amounts(cents),
            "Objet": "Commande " + pd.Series(np.arange(1, n + 1)).astype(str),
            "Code postal du fournisseur": suppliers["postcode"].to_numpy()[supplier],
            "Ville du fournisseur": suppliers["city"].to_numpy()[supplier],
        }
    )

    # Needs: organizations draw from shared codes, so the same categories come back across buyers.
    m = scale.needs
    need_org = rng.integers(0, scale.organizations, m)
    need_code = rng.choice(codes, m, p=np.linspace(2, 1, len(codes)) / np.linspace(2, 1, len(codes)).sum())
    needs = pd.DataFrame(
        {
            "organization": orgs["code"].to_numpy()[need_org],
            "Intitulé": "Besoin " + pd.Series(np.arange(1, m + 1)).astype(str),
            "Code CPV": need_code,
            "Montant annuel HT (€)": _french_amounts(np.round(rng.lognormal(10, 1, m) * 100) + 100),
            "Date de début": _french_dates(rng.integers(6 * 365, 8 * 365, m)),
            "Durée (mois)": rng.choice([12, 24, 36, 48], m).astype(str),
            "Code postal de livraison": "21000",
        }
    )

    coordinator = rng.integers(0, scale.organizations, scale.calls)
    calls = pd.DataFrame(
        {
            "coordinator": orgs["code"].to_numpy()[coordinator],
            "members": [
                sorted({orgs["code"][c], *orgs["code"].to_numpy()[rng.integers(0, scale.organizations, 2)]})
                for c in coordinator
            ],
            "cpv": rng.choice(codes, scale.calls),
            "estimated": np.round(rng.lognormal(12, 0.8, scale.calls), 2) + 1000,
        }
    )
    per_call = max(1, min(scale.bids // max(1, scale.calls), scale.suppliers))  # one bid per supplier and call
    bid_call = np.repeat(np.arange(scale.calls), per_call)
    bid_supplier = np.concatenate(
        [rng.choice(scale.suppliers, per_call, replace=False) for _ in range(scale.calls)] or [np.zeros(0, int)]
    )
    bids = pd.DataFrame(
        {
            "call": bid_call,
            "supplier": bid_supplier,
            "amount": np.round(calls["estimated"].to_numpy()[bid_call] * rng.uniform(0.7, 1.2, len(bid_call)), 2),
        }
    )
    return Dataset(scale, seed, orgs, suppliers, spend, needs, calls, bids)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False, encoding="utf-8", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def part_file(out: Path, number: int) -> Path:
    """The path of part `number` (1 to PARTS) of the spend ledger under `out`."""
    return out / "spend" / f"part-{number:02d}.csv"


def write_files(dataset: Dataset, out: Path) -> list[Path]:
    """The French import files of the dataset (see the module's docstring); returns their paths."""
    written = []
    ledger = dataset.spend[list(SPEND_HEADER)]
    _write_csv(ledger, out / "spend" / "all.csv")
    written.append(out / "spend" / "all.csv")
    bounds = np.linspace(0, len(ledger), PARTS + 1).astype(int)
    for part in range(PARTS):
        path = part_file(out, part + 1)
        _write_csv(ledger.iloc[bounds[part] : bounds[part + 1]], path)
        written.append(path)
    for code, lines in dataset.spend.groupby("organization"):
        _write_csv(lines[list(SPEND_HEADER)], out / "spend" / f"{code}.csv")
        written.append(out / "spend" / f"{code}.csv")
    for code, needs in dataset.needs.groupby("organization"):
        _write_csv(needs[list(NEED_HEADER)], out / "needs" / f"{code}.csv")
        written.append(out / "needs" / f"{code}.csv")
    return written


def _chunks(rows: list[dict], size: int = 5_000):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def load(dataset: Dataset, url: str) -> dict[str, int]:
    """Migrate the database at `url` and fill it with the dataset; returns the number of rows per table."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.accounts.models import User
    from app.actors import SYSTEM
    from app.calls.models import Bid, Call, CallLot, Criterion
    from app.db import random_id
    from app.extensions import db
    from app.groups.models import Lot, Membership, PurchaseGroup
    from app.needs.models import Need
    from app.organizations.models import Organization, SupplierCompany, SupplierTrade
    from app.spend.services import import_spend
    from config import Config

    app = create_app(type("DatasetConfig", (Config,), {"SQLALCHEMY_DATABASE_URI": url}))
    counts: dict[str, int] = {}
    now = datetime(2026, 11, 1, 9, tzinfo=UTC)
    with app.app_context():
        upgrade()
        session = db.session
        org_ids = {}
        for row in dataset.organizations.itertuples():
            organization = Organization(
                code=row.code, name=row.name, siret=row.siret, kind=row.kind, postcode=row.postcode
            )
            session.add(organization)
            session.flush()
            org_ids[row.code] = organization.id
        template = User(email="template@bench.invalid", role="admin")
        template.set_password(BENCH_PASSWORD)
        password_hash = template.password_hash
        users = [
            {"id": random_id(), "email": "admin@bench.invalid", "role": "admin", "organization_id": None},
            {"id": random_id(), "email": "coordinator@bench.invalid", "role": "coordinator", "organization_id": None},
        ] + [
            {"id": random_id(), "email": f"buyer-{code.lower()}@bench.invalid", "role": "buyer", "organization_id": oid}
            for code, oid in org_ids.items()
        ]
        supplier_ids = [random_id() for _ in range(len(dataset.suppliers))]
        session.execute(
            sa.insert(SupplierCompany),
            [
                {"id": sid, "name": s.name, "siret": s.siret, "postcode": s.postcode, "city": s.city, "is_sme": True}
                for sid, s in zip(supplier_ids, dataset.suppliers.itertuples(), strict=True)
            ],
        )
        users += [
            {"id": random_id(), "email": f"supplier-{i:04d}@bench.invalid", "role": "supplier", "supplier_id": sid}
            for i, sid in enumerate(supplier_ids)
        ]
        for user in users:
            user.setdefault("organization_id", None)
            user.setdefault("supplier_id", None)
            user.update(password_hash=password_hash, full_name=user["email"].split("@")[0])
        for batch in _chunks(users):
            session.execute(sa.insert(User), batch)
        trades = {(supplier_ids[b.supplier], dataset.calls["cpv"][b.call]) for b in dataset.bids.itertuples()}
        for batch in _chunks([{"company_id": sid, "cpv_code": code} for sid, code in sorted(trades)]):
            session.execute(sa.insert(SupplierTrade), batch)
        session.commit()

        header = ";".join(SPEND_HEADER) + "\r\n"
        for code, lines in dataset.spend.groupby("organization"):
            body = lines[list(SPEND_HEADER)].to_csv(sep=";", index=False, header=False, lineterminator="\r\n")
            import_spend(
                session,
                SYSTEM,
                (header + body).encode("utf-8"),
                f"{code}.csv",
                organization=code,
                is_synthetic=True,
                max_rows=None,
            )
            session.commit()

        needs = dataset.needs
        starts = pd.to_datetime(needs["Date de début"], format="%d/%m/%Y").dt.date
        amounts = needs["Montant annuel HT (€)"].str.replace(",", ".")
        need_rows = [
            {
                "id": random_id(),
                "organization_id": org_ids[org],
                "title": title,
                "cpv_code": code,
                "annual_amount": amount,
                "start_date": start,
                "duration_months": int(months),
                "delivery_postcode": "21000",
                "status": "submitted",
                "created_at": now,
                "updated_at": now,
                "submitted_at": now,
            }
            for org, title, code, amount, start, months in zip(
                needs["organization"],
                needs["Intitulé"],
                needs["Code CPV"],
                amounts,
                starts,
                needs["Durée (mois)"],
                strict=True,
            )
        ]
        for batch in _chunks(need_rows):
            session.execute(sa.insert(Need), batch)

        groups, members, lots, calls, call_lots, criteria = [], [], [], [], [], []
        for position, call in enumerate(dataset.calls.itertuples()):
            group_id, lot_id, call_id, call_lot_id = random_id(), random_id(), random_id(), random_id()
            groups.append(
                {
                    "id": group_id,
                    "name": f"Groupement synthétique {position + 1:03d}",
                    "scope_cpv_prefix": call.cpv[:3],
                    "coordinator_organization_id": org_ids[call.coordinator],
                    "status": "constituted",
                    "created_at": now,
                    "updated_at": now,
                    "constituted_at": now,
                }
            )
            members += [
                {
                    "id": random_id(),
                    "group_id": group_id,
                    "organization_id": org_ids[m],
                    "status": "signed",
                    "invited_at": now,
                    "signed_at": now,
                }
                for m in call.members
            ]
            lots.append({"id": lot_id, "group_id": group_id, "number": 1, "title": "Lot unique", "cpv_code": call.cpv})
            calls.append(
                {
                    "id": call_id,
                    "group_id": group_id,
                    "title": f"Consultation synthétique {position + 1:03d}",
                    "questions_deadline": now - timedelta(days=20),
                    "bid_deadline": now - timedelta(days=10),
                    "status": "closed",
                    "created_at": now - timedelta(days=40),
                    "published_at": now - timedelta(days=40),
                    "closed_at": now - timedelta(days=10),
                }
            )
            criteria += [
                {"id": random_id(), "call_id": call_id, "name": name, "weight": weight}
                for name, weight in (("price", 60), ("technical", 30), ("environmental", 10))
            ]
            call_lots.append(
                {
                    "id": call_lot_id,
                    "call_id": call_id,
                    "group_lot_id": lot_id,
                    "number": 1,
                    "title": "Lot unique",
                    "cpv_code": call.cpv,
                    "estimated_amount": f"{call.estimated:.2f}",
                }
            )
        for model, rows in (
            (PurchaseGroup, groups),
            (Membership, members),
            (Lot, lots),
            (Call, calls),
            (CallLot, call_lots),
            (Criterion, criteria),
        ):
            for batch in _chunks(rows):
                session.execute(sa.insert(model), batch)
        bid_rows = []
        for bid in dataset.bids.itertuples():
            content = f"call {calls[bid.call]['id']} supplier {supplier_ids[bid.supplier]} amount {bid.amount:.2f}"
            bid_rows.append(
                {
                    "id": random_id(),
                    "call_id": calls[bid.call]["id"],
                    "lot_id": call_lots[bid.call]["id"],
                    "supplier_id": supplier_ids[bid.supplier],
                    "amount": f"{bid.amount:.2f}",
                    "submitted_at": now - timedelta(days=11),
                    "status": "active",
                    "receipt_content": content,
                    "receipt_sha256": hashlib.sha256(content.encode()).hexdigest(),
                }
            )
        for batch in _chunks(bid_rows):
            session.execute(sa.insert(Bid), batch)
        session.commit()
        # The planner's statistics of the tables just filled: without them (PostgreSQL with autovacuum off, or
        # before it comes round) the first overlap map took two minutes instead of two seconds.
        session.execute(sa.text("ANALYZE"))
        session.commit()
        from app.spend.models import SpendBlock, SpendCell

        for model in (
            Organization,
            User,
            SupplierCompany,
            SpendBlock,
            SpendCell,
            Need,
            PurchaseGroup,
            Call,
            Criterion,
            Bid,
        ):
            counts[model.__tablename__] = session.scalar(sa.select(sa.func.count()).select_from(model))
        counts["spend lines"] = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(SpendBlock.line_count), 0)))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("full", "tenth", "hundredth"), default="full")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/data"))
    parser.add_argument("--load", metavar="DATABASE_URL", default=None)
    args = parser.parse_args(argv)
    dataset = generate(Scale.named(args.scale), args.seed)
    paths = write_files(dataset, args.out)
    print(f"{len(paths)} files written under {args.out} ({args.scale} scale, seed {args.seed})")
    if args.load:
        counts = load(dataset, args.load)
        print("loaded: " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))
        print(
            f"accounts: admin@bench.invalid, coordinator@bench.invalid, buyer-b00@bench.invalid, ... "
            f"password {BENCH_PASSWORD}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
