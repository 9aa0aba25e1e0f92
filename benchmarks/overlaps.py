"""Benchmark: the overlap map over 100,000 submitted needs (target: under one second per call).

Usage: ./scripts/bench [--needs N] [--database-url URL]. Builds a throwaway database (SQLite by default),
fills it with random needs of 20 organizations over real CPV codes, then times overlap_report per level.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

TARGET_SECONDS = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--needs", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.needs.models import Need
    from app.organizations.models import Organization
    from app.overlaps.services import OverlapQuery, overlap_report
    from app.reference.models import CpvCode
    from config import TestConfig

    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite'}"
    app = create_app(type("BenchConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        upgrade()
        rng = random.Random(7)
        organizations = [
            Organization(code=f"B{i:02d}", name=f"Bench {i}", kind="other", postcode="21000") for i in range(20)
        ]
        db.session.add_all(organizations)
        db.session.flush()
        codes = list(db.session.scalars(sa.select(CpvCode.code).where(CpvCode.level != "division")))
        codes = rng.sample(codes, 600)
        today = date.today()
        rows = [
            {
                "organization_id": rng.choice(organizations).id,
                "title": f"Besoin {i}",
                "description": "",
                "cpv_code": rng.choice(codes),
                "annual_amount": rng.randint(1_000, 2_000_000),
                "start_date": today + relativedelta(days=rng.randint(0, 900)),
                "duration_months": rng.choice((12, 24, 36, 48)),
                "environmental_criterion": False,
                "social_clause": False,
                "short_supply_chain": False,
                "sustainability_notes": "",
                "status": "submitted",
                "version": 1,
                "created_at": sa.func.now(),
                "updated_at": sa.func.now(),
            }
            for i in range(args.needs)
        ]
        started = time.perf_counter()
        db.session.execute(
            sa.insert(Need), [{k: v for k, v in r.items() if k not in ("created_at", "updated_at")} for r in rows]
        )
        db.session.commit()
        print(f"loaded {args.needs} needs in {time.perf_counter() - started:.1f} s ({db.engine.dialect.name})")

        class Coordinator:
            role = "coordinator"
            organization_id = None

        worst = 0.0
        for detail in (False, True):
            for level in ("division", "group", "class", "category"):
                timings = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    report = overlap_report(
                        db.session, Coordinator(), OverlapQuery(level=level), today=today, detail=detail
                    )
                    timings.append(time.perf_counter() - started)
                best = min(timings)
                if not detail:
                    worst = max(worst, best)
                print(
                    f"overlap_report {'page' if detail else 'api '} level={level:<9} "
                    f"{len(report.overlaps):>5} overlaps  best {best * 1000:7.1f} ms  "
                    f"median {statistics.median(timings) * 1000:7.1f} ms"
                )
        db.engine.dispose()
    verdict = "OK" if worst < TARGET_SECONDS else "TOO SLOW"
    print(f"slowest API level {worst * 1000:.0f} ms, target {TARGET_SECONDS * 1000:.0f} ms: {verdict}")
    print("(the page variant also loads the titles of every need shown, splitting warnings and the heatmap)")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
