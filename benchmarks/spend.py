"""Benchmark: the spend map over a million spend lines (target: well under one second per call).

Usage: ./scripts/bench [--database-url URL] runs it after the overlap benchmark; python -m benchmarks.spend
[--lines N] [--database-url URL] runs this one alone.
Builds a throwaway database (SQLite by default), fills it with N random spend lines of 20 organizations over
5 years and real CPV codes, writes their cube cells exactly as an import does (app.spend.services.sum_cells), then
times the map, the cube of the API, the local share and the carbon estimate.

The lines are generated the way ledgers look: each organization buys a category from a few suppliers again and
again (a portfolio of recurring supplier × code pairs), so a million lines make tens of thousands of cells.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

TARGET_SECONDS = 1.0
ORGANIZATIONS = 20
YEARS = (2021, 2022, 2023, 2024, 2025)
BATCH = 50_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args, _ = parser.parse_known_args(argv)  # ./scripts/bench passes the overlap options too

    from flask_migrate import upgrade

    from app import create_app
    from app.actors import SYSTEM
    from app.extensions import db
    from app.organizations.models import Organization
    from app.reference.models import CpvCode
    from app.spend import services
    from app.spend.models import SpendCell, SpendImport, SpendLine
    from config import TestConfig

    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench-spend.sqlite'}"
    app = create_app(type("BenchConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        upgrade()
        rng = random.Random(11)
        organizations = [
            Organization(code=f"S{i:02d}", name=f"Bench {i}", kind="other", postcode="21000")
            for i in range(ORGANIZATIONS)
        ]
        db.session.add_all(organizations)
        db.session.flush()
        codes = rng.sample(list(db.session.scalars(sa.select(CpvCode.code).where(CpvCode.level != "division"))), 600)
        postcodes = ["21000", "21121", "21300", "21200", "21110", "25000", "71100", "75008", "69003", None]
        suppliers = [
            (f"{rng.randint(10**13, 10**14 - 1)}", rng.choice(postcodes), rng.sample(codes, rng.randint(1, 3)))
            for _ in range(8_000)
        ]
        started = time.perf_counter()
        total = 0
        for org in organizations:
            record = SpendImport(
                organization_id=org.id,
                format="csv",
                filename=f"bench-{org.code}.csv",
                sha256=f"{org.id:064d}",
                active_sha256=f"{org.id:064d}",
                is_synthetic=True,
                notes="[]",
            )
            db.session.add(record)
            db.session.flush()
            portfolio = []
            for siret, postcode, trades in rng.sample(suppliers, 150):
                for code in trades:
                    portfolio.append((siret, postcode, code))
            weights = [1 / (rank + 1) for rank in range(len(portfolio))]
            count = args.lines // ORGANIZATIONS + (1 if org.id <= args.lines % ORGANIZATIONS else 0)
            rows = []
            for _ in range(count):
                siret, postcode, code = rng.choices(portfolio, weights=weights)[0]
                spend_date = date(rng.choice(YEARS), 1, 1) + timedelta(days=rng.randint(0, 364))
                rows.append(
                    {
                        "spend_date": spend_date,
                        "year": spend_date.year,
                        "cpv_code": code,
                        "amount": Decimal(rng.randint(1_000, 5_000_000)) / 100,
                        "supplier_siret": siret,
                        "supplier_name": None,
                        "supplier_postcode": postcode,
                        "supplier_city": None,
                        "co_contractors": None,
                        "description": "",
                        "source_ref": None,
                        "procedure": None,
                        "duration_months": None,
                        "fingerprint": f"{rng.getrandbits(128):032x}",
                    }
                )
            for start in range(0, len(rows), BATCH):
                db.session.execute(
                    sa.insert(SpendLine),
                    [{"import_id": record.id, "organization_id": org.id, **r} for r in rows[start : start + BATCH]],
                )
            db.session.execute(
                sa.insert(SpendCell),
                [{"import_id": record.id, "organization_id": org.id, **cell} for cell in services.sum_cells(rows)],
            )
            total += len(rows)
        db.session.commit()
        cells = db.session.scalar(sa.select(sa.func.count(SpendCell.id)))
        print(
            f"loaded {total} spend lines ({cells} cube cells) in {time.perf_counter() - started:.1f} s "
            f"({db.engine.dialect.name})"
        )

        calls = [
            (f"spend_map level={level:<9}", lambda level=level: services.spend_map(db.session, SYSTEM, level=level))
            for level in ("division", "group", "class", "category")
        ]
        calls += [
            ("spend_map class year=2024", lambda: services.spend_map(db.session, SYSTEM, level="class", year=2024)),
            ("spend_map drill-down 45  ", lambda: services.spend_map(db.session, SYSTEM, level="group", parent="45")),
            ("spend_cube category (API)", lambda: services.spend_cube(db.session, SYSTEM, level="category")),
            ("local_share_report       ", lambda: services.local_share_report(db.session, SYSTEM)),
            ("carbon_report            ", lambda: services.carbon_report(db.session, SYSTEM)),
        ]
        worst = 0.0
        for name, call in calls:
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                call()
                timings.append(time.perf_counter() - started)
            best = min(timings)
            worst = max(worst, best)
            print(f"{name}  best {best * 1000:7.1f} ms  median {statistics.median(timings) * 1000:7.1f} ms")
        db.engine.dispose()
    verdict = "OK" if worst < TARGET_SECONDS else "TOO SLOW"
    print(f"slowest spend call {worst * 1000:.0f} ms, target {TARGET_SECONDS * 1000:.0f} ms: {verdict}")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
