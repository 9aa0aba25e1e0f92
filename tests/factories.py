"""Factories for test data: plain functions that add and flush real rows, and the sample files the tests read."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.needs.models import Need
from app.organizations.demo import fake_siret
from app.organizations.models import Organization, SupplierCompany, SupplierTrade

PASSWORD = "correct-horse-battery"  # noqa: S105
_seq = itertools.count(1)
_rng = random.Random(4242)

# The call tests run on a frozen clock (the `clock` fixture): calls are prepared on CALLS_NOW, bids close at
# CALLS_DEADLINE (noon in Paris).
CALLS_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CALLS_DEADLINE = datetime(2026, 12, 10, 11, 0, tzinfo=UTC)
CRITERIA = (("price", 60), ("technical", 30), ("environmental", 10))

# Spend: the real DECP sample shipped with the app, and the columns of a French accounting ledger.
DECP_SAMPLE = Path(__file__).resolve().parents[1] / "app" / "data" / "decp_ville_de_dijon_2024_2025.csv"
DECP_FILES = Path(__file__).resolve().parent / "data" / "decp"  # DECP files of each vintage written for the tests
DECP_SAMPLE_BUYER = "21210231300013"  # Ville de Dijon, the acheteur of every record of the sample


def decp_sample_records():
    """The sample's contracts computed with pandas over the raw file, independently of the import: rows equal in
    every field but the supplier's are one contract (one row per supplier), each at its latest amount
    (`montantmodification` when given, else `montant`), as a column `amount` of Decimals."""
    import pandas as pd

    frame = pd.read_csv(DECP_SAMPLE, sep=";", dtype=str, keep_default_na=False)
    frame = frame.drop_duplicates(subset=[c for c in frame.columns if not c.startswith("titulaire_")])
    latest = frame["montantmodification"].where(frame["montantmodification"] != "CDL", frame["montant"])
    return frame.assign(amount=latest.map(Decimal))


LEDGER_HEADER = "Date;Fournisseur;SIRET du fournisseur;Code CPV;Montant HT (€);Objet;Code postal du fournisseur\n"


def organization(code: str | None = None, **kw) -> Organization:
    n = next(_seq)
    org = Organization(
        code=code or f"ORG{n}",
        name=kw.pop("name", f"Organisation {n}"),
        kind=kw.pop("kind", "local_authority"),
        postcode=kw.pop("postcode", "21000"),
        **kw,
    )
    db.session.add(org)
    db.session.flush()
    return org


def supplier_company(trades=("90910000",), **kw) -> SupplierCompany:
    n = next(_seq)
    company = SupplierCompany(
        name=kw.pop("name", f"Entreprise {n}"),
        siret=kw.pop("siret", fake_siret(_rng)),
        postcode=kw.pop("postcode", "21000"),
        is_sme=kw.pop("is_sme", True),
        trades=[SupplierTrade(cpv_code=c) for c in trades],
        **kw,
    )
    db.session.add(company)
    db.session.flush()
    return company


def user(
    role: str = "buyer",
    *,
    email: str | None = None,
    organization_: Organization | None = None,
    supplier: SupplierCompany | None = None,
    password: str = PASSWORD,
) -> User:
    n = next(_seq)
    if role == "buyer" and organization_ is None:
        organization_ = organization()
    if role == "supplier" and supplier is None:
        supplier = supplier_company()
    account = User(
        email=email or f"{role}{n}@example.fr",
        full_name=f"{role.title()} {n}",
        role=role,
        organization=organization_,
        supplier=supplier,
    )
    account.set_password(password)
    db.session.add(account)
    db.session.flush()
    return account


def need(
    org: Organization,
    *,
    title: str | None = None,
    cpv: str = "09310000",
    annual: str = "100000.00",
    months: int = 36,
    start: date = date(2027, 6, 1),
    status: str = "submitted",
    postcode: str | None = "21000",
    **kw,
) -> Need:
    """A need of `org`: `annual` euros HT a year for `months` months from `start`; other columns through `kw`."""
    item = Need(
        organization_id=org.id,
        title=title or f"{org.code} {cpv}",
        cpv_code=cpv,
        annual_amount=Decimal(annual),
        start_date=start,
        duration_months=months,
        status=status,
        delivery_postcode=postcode,
        **kw,
    )
    db.session.add(item)
    db.session.flush()
    return item


def constituted_group(
    codes=("DM", "CHU", "UB"), cpv="09310000", amounts=("20000.00", "100000.00", "80000.00"), need_columns=None
):
    """A constituted group: each organization brings one need (36 months, plus `need_columns[i]` if given: renewals,
    options…) and signs. Returns (group, orgs, coordinator)."""
    from app.groups import services as group_services

    orgs = [organization(code) for code in codes]
    coordinator = user("coordinator", organization_=orgs[0])
    buyers = [user("buyer", organization_=org) for org in orgs]
    columns = need_columns or [{} for _ in codes]
    needs = [
        need(org, title=f"Besoin {org.code}", cpv=cpv, annual=amount, start=date(2027, 9, 1), **extra)
        for org, amount, extra in zip(orgs, amounts, columns, strict=True)
    ]
    group = group_services.form_group(db.session, coordinator, name="Groupement test", need_ids=[n.id for n in needs])
    for buyer in buyers:
        group_services.confirm_membership(db.session, buyer, group)
        group_services.sign_convention(
            db.session,
            buyer,
            group,
            signed_on=date(2026, 1, 5),
            deliberation_reference=f"DEL-{buyer.organization.code}",
        )
    group_services.constitute_group(db.session, coordinator, group)
    return group, orgs, coordinator


def call(
    coordinator: User,
    group,
    *,
    title: str = "Fourniture d'électricité 2027-2029",
    description: str = "Électricité des sites des membres.",
    questions_deadline: datetime = CALLS_DEADLINE - timedelta(days=5),
    bid_deadline: datetime = CALLS_DEADLINE,
    lots=None,
    criteria=CRITERIA,
    publish: bool = False,
):
    """A call for tenders of a constituted group, through the service; one 600,000 € electricity lot by default."""
    from app.calls import services as call_services

    created = call_services.create_call(
        db.session,
        coordinator,
        group,
        call_services.CallValues(
            title=title,
            description=description,
            questions_deadline=questions_deadline,
            bid_deadline=bid_deadline,
            lots=lots or [call_services.LotInput("Électricité", "09310000-5", Decimal("600000.00"))],
            criteria=list(criteria),
        ),
    )
    if publish:
        call_services.publish_call(db.session, coordinator, created)
    return created


def bid(supplier: User, call_, amount: str, *, lot_id: int | None = None, idempotency_key: str | None = None, **kw):
    """A sealed bid of a supplier's user on the call's first lot (or `lot_id`), through the service."""
    from app.calls import services as call_services

    values = call_services.BidValues(lot_id=lot_id or call_.lots[0].id, amount=Decimal(amount), **kw)
    return call_services.submit_bid(db.session, supplier, call_, values, idempotency_key=idempotency_key)[0]


def award_every_lot(coordinator: User, call_) -> list:
    """After the deadline: score every active bid 50 on each scored criterion (price decides) and award each lot with
    bids to its best-ranked one, through the services. Returns the awards, lot by lot."""
    from app.calls import services as call_services

    scored = [c.name for c in call_.criteria if c.name != "price"]
    for placed in call_services.list_bids(db.session, coordinator, call_):
        call_services.score_bid(db.session, coordinator, call_, placed.id, dict.fromkeys(scored, 50))
    ranked = call_services.ranking(db.session, coordinator, call_)
    return [
        call_services.award_lot(db.session, coordinator, call_, lot.id, ranked[lot.id][0][1].id)
        for lot in call_.lots
        if ranked[lot.id]
    ]


def ledger(*rows: str) -> bytes:
    """A spend ledger in the French accounting layout, one `;`-separated row per argument."""
    return (LEDGER_HEADER + "\n".join(rows) + "\n").encode("utf-8")


def xlsx(sheets: dict[str, list[list]]) -> bytes:
    """An Excel workbook: {sheet name: [row, ...]}, a row a list of cell values (None for an empty cell)."""
    import io

    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        worksheet = workbook.create_sheet(name)
        for row in rows:
            worksheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


SPREADSHEET_ML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def raw_xlsx(rows: bytes, dimension: str | None = None, level: int = 9) -> bytes:
    """A minimal workbook written by hand: one sheet "Besoins" holding `rows`, the <row> elements of its XML as they
    are given (for files no spreadsheet program writes, such as spreadsheet bombs)."""
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{SPREADSHEET_ML}">'.encode()
        + (f'<dimension ref="{dimension}"/>'.encode() if dimension else b"")
        + b"<sheetData>"
        + rows
        + b"</sheetData></worksheet>"
    )
    parts = {
        "[Content_Types].xml": (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            b'<Default Extension="xml" ContentType="application/xml"/>'
            b'<Override PartName="/xl/workbook.xml" '
            b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            b'<Override PartName="/xl/worksheets/sheet1.xml" '
            b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="rId1" Target="xl/workbook.xml" '
            b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
            b"</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{SPREADSHEET_ML}" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Besoins" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ).encode(),
        "xl/_rels/workbook.xml.rels": (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
            b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": sheet,
    }
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --------------------------------------------------------------------------- bulk rows (query-count tests)


def bulk_needs(
    orgs,
    count: int,
    *,
    cpvs=("09310000",),
    status: str = "submitted",
    start: date = date(2027, 6, 1),
    rng: random.Random | None = None,
) -> list[int]:
    """`count` needs spread over `orgs` and `cpvs`, inserted in one statement; returns their ids. With `rng`, the
    organizations, codes, amounts (with cents), durations, start dates over three years, current contract ends
    and statuses are drawn at random (a seeded generator gives the same rows every run)."""
    from app.db import random_id

    rows = []
    for n in range(count):
        row = {
            "id": random_id(),
            "organization_id": orgs[n % len(orgs)].id,
            "title": f"Besoin {n}",
            "cpv_code": cpvs[n % len(cpvs)],
            "annual_amount": Decimal(20000 + 100 * n),
            "start_date": start + timedelta(days=n % 300),
            "duration_months": 12 + n % 36,
            "status": status,
            "delivery_postcode": "21000",
        }
        if rng is not None:
            row.update(
                organization_id=rng.choice(orgs).id,
                cpv_code=rng.choice(cpvs),
                annual_amount=Decimal(rng.randint(100, 50_000_000)).scaleb(-2),
                start_date=start + timedelta(days=rng.randint(0, 3 * 365)),
                duration_months=rng.randint(1, 60),
                current_contract_end=start + timedelta(days=rng.randint(0, 3 * 365)) if rng.random() < 0.4 else None,
                status=rng.choice(("submitted", "submitted", "submitted", "draft", "withdrawn")),
            )
        rows.append(row)
    db.session.execute(sa.insert(Need), rows)
    return [row["id"] for row in rows]


def bulk_groups(orgs, count: int, *, cpv: str = "09310000", status: str = "forming") -> list[int]:
    """`count` groups coordinated by orgs[0], each with every org as an invited member bringing one need of its own,
    and one lot shared by all: every related row a group page or list shows, inserted in a few statements."""
    from app.db import random_id
    from app.groups.models import GroupNeed, Lot, LotShare, Membership, PurchaseGroup

    need_ids = bulk_needs(
        orgs, count * len(orgs), cpvs=(cpv,), status="grouped" if status != "forming" else "submitted"
    )
    groups, memberships, group_needs, lots, shares = [], [], [], [], []
    for n in range(count):
        group_id, lot_id = random_id(), random_id()
        groups.append(
            {
                "id": group_id,
                "name": f"Groupement {n}",
                "coordinator_organization_id": orgs[0].id,
                "status": status,
                "created_at": CALLS_NOW + timedelta(seconds=n),
                "updated_at": CALLS_NOW,
            }
        )
        lots.append({"id": lot_id, "group_id": group_id, "number": 1, "title": f"Lot {n}", "cpv_code": cpv})
        for k, org in enumerate(orgs):
            memberships.append({"id": random_id(), "group_id": group_id, "organization_id": org.id})
            group_needs.append(
                {
                    "id": random_id(),
                    "group_id": group_id,
                    "need_id": need_ids[n * len(orgs) + k],
                    "organization_id": org.id,
                    "annual_amount": Decimal("10000.00"),
                }
            )
            shares.append({"lot_id": lot_id, "organization_id": org.id, "annual_amount": Decimal("10000.00")})
    for model, rows in (
        (PurchaseGroup, groups),
        (Membership, memberships),
        (GroupNeed, group_needs),
        (Lot, lots),
        (LotShare, shares),
    ):
        db.session.execute(sa.insert(model), rows)
    return [row["id"] for row in groups]


def bulk_calls(group_ids, count: int, *, status: str = "published", cpv: str = "09310000") -> list[int]:
    """`count` calls spread over the groups, each with one lot and the usual criteria, inserted in a few statements;
    published ones are open for bids until after CALLS_DEADLINE (plus a day per call)."""
    from app.calls.models import Call, CallLot, Criterion
    from app.db import random_id

    calls, lots, criteria = [], [], []
    for n in range(count):
        call_id = random_id()
        deadline = CALLS_DEADLINE + timedelta(days=n % 200, minutes=n)
        calls.append(
            {
                "id": call_id,
                "group_id": group_ids[n % len(group_ids)],
                "title": f"Consultation {n}",
                "questions_deadline": deadline - timedelta(days=5),
                "bid_deadline": deadline,
                "status": status,
                "created_at": CALLS_NOW,
                "published_at": CALLS_NOW if status != "draft" else None,
            }
        )
        lots.append(
            {
                "id": random_id(),
                "call_id": call_id,
                "number": 1,
                "title": f"Lot {n}",
                "cpv_code": cpv,
                "estimated_amount": Decimal("50000.00"),
            }
        )
        criteria += [{"id": random_id(), "call_id": call_id, "name": name, "weight": w} for name, w in CRITERIA]
    for model, rows in ((Call, calls), (CallLot, lots), (Criterion, criteria)):
        db.session.execute(sa.insert(model), rows)
    return [row["id"] for row in calls]


def bulk_suppliers(count: int, *, trades=("09310000", "90910000")) -> list[int]:
    """`count` supplier companies with their trades, and a user for each, inserted in a few statements."""
    from app.db import random_id
    from app.organizations.models import SupplierCompany, SupplierTrade

    password_hash = user("admin").password_hash  # one hash for all: hashing is the slow part
    companies, rows, users = [], [], []
    for n in range(count):
        company_id = random_id()
        siret = fake_siret(_rng)
        companies.append({"id": company_id, "name": f"Entreprise {n}", "siret": siret, "postcode": "21000"})
        rows += [{"company_id": company_id, "cpv_code": code} for code in trades]
        users.append(
            {
                "id": random_id(),
                "email": f"bulk-supplier{next(_seq)}@example.fr",
                "full_name": f"Fournisseur {n}",
                "role": "supplier",
                "supplier_id": company_id,
                "password_hash": password_hash,
            }
        )
    for model, values in ((SupplierCompany, companies), (SupplierTrade, rows), (User, users)):
        db.session.execute(sa.insert(model), values)
    return [row["id"] for row in companies]


def bulk_spend_cells(orgs, count: int, *, cpvs=("09310", "90911", "45210", "30192"), years=(2024, 2025)) -> None:
    """`count` spend cells (the pre-aggregated spend cube) of one import per organization, in a few statements."""
    from app.db import random_id
    from app.spend.models import SpendCell, SpendImport

    imports = {}
    for org in orgs:
        digest = f"{random_id():064x}"  # a new file each time
        imports[org.id] = {
            "id": random_id(),
            "organization_id": org.id,
            "format": "csv",
            "filename": f"depenses-{org.code}.csv",
            "sha256": digest,
            "active_sha256": digest,
        }
    cells = [
        {
            "id": random_id(),
            "import_id": imports[orgs[n % len(orgs)].id]["id"],
            "organization_id": orgs[n % len(orgs)].id,
            "year": years[n % len(years)],
            "cpv_prefix": cpvs[n % len(cpvs)],
            "supplier_key": f"{21000000000000 + n % 97:014d}" if n % 5 else "",
            "supplier_postcode": ("21000", "71100", "75001", "")[n % 4],
            "amount": Decimal(1000 + 7 * n).scaleb(-1),
            "lines": 1 + n % 4,
        }
        for n in range(count)
    ]
    db.session.execute(sa.insert(SpendImport), list(imports.values()))
    db.session.execute(sa.insert(SpendCell), cells)


def stored_line_count(session=None) -> int:
    """How many spend lines are stored (every block's)."""
    from app.spend.models import SpendBlock

    session = session or db.session
    return session.scalar(sa.select(sa.func.coalesce(sa.func.sum(SpendBlock.line_count), 0)))


def stored_lines(session=None, *, import_id: int | None = None, organization_id: int | None = None) -> list:
    """The stored spend lines (`blocks.StoredLine`) of an import or of an organization (every one when neither is
    given), in file order within each import, read back from their blocks."""
    from app.spend import blocks
    from app.spend.models import SpendBlock

    session = session or db.session
    stmt = sa.select(SpendBlock.import_id, SpendBlock.organization_id, SpendBlock.lines)
    if import_id is not None:
        stmt = stmt.where(SpendBlock.import_id == import_id)
    if organization_id is not None:
        stmt = stmt.where(SpendBlock.organization_id == organization_id)
    lines = []
    for block_import, block_organization, data in session.execute(stmt.order_by(SpendBlock.import_id, SpendBlock.seq)):
        lines.extend(blocks.stored_lines(blocks.decode(data), block_organization, block_import))
    return lines
