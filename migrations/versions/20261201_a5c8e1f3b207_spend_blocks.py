"""spend lines stored columnar: one Parquet block per slice of an import, instead of one indexed row per line

Writing a line as a row cost the database a heap tuple, three index entries (primary key, import, and the unique
(organization, fingerprint, occurrence) that skipped lines already imported) and two foreign-key checks. Measured at
full scale on PostgreSQL, for 50,093 lines: 1,019 ms with all of them, 601 ms without the two foreign keys (their
triggers 230 + 222 ms), 197 ms with the primary key alone; the database's own write of 1,000,000 lines was 25x
`pandas.read_csv` of their file. Lines are never looked up one by one (the pages read the cube, `spend_cell`), so
each import now keeps its lines as blocks of Parquet (zstd) in `spend_block`, at most 50,000 lines a block, and an
import tells the lines an organization already has by the key columns of its blocks (see app/spend/blocks.py).

Upgrade: every line moves into its import's blocks (in id order, 50,000 a block), then spend_line is dropped.
Downgrade: spend_block's lines go back into spend_line, recreated as it was.

Revision ID: a5c8e1f3b207
Revises: f1c3a7e9b542
Create Date: 2026-12-01 00:30:00.000000

"""

import io
import secrets
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a5c8e1f3b207"
down_revision = "f1c3a7e9b542"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BLOCK_LINES = 50_000
TEXTS = (
    "cpv_code",
    "supplier_siret",
    "supplier_name",
    "supplier_postcode",
    "supplier_city",
    "co_contractors",
    "description",
    "source_ref",
    "procedure",
)
# The block layout of this revision (app/spend/blocks.py BLOCK_SCHEMA when it was written).
SCHEMA = pa.schema(
    [
        ("spend_date", pa.date32()),
        ("year", pa.int16()),
        ("cpv_code", pa.string()),
        ("amount_cents", pa.int64()),
        ("supplier_siret", pa.string()),
        ("supplier_name", pa.string()),
        ("supplier_postcode", pa.string()),
        ("supplier_city", pa.string()),
        ("co_contractors", pa.string()),
        ("description", pa.string()),
        ("source_ref", pa.string()),
        ("procedure", pa.string()),
        ("duration_months", pa.int32()),
        ("fingerprint", pa.binary(16)),
        ("occurrence", pa.int32()),
    ]
)
LINE_COLUMNS = ("spend_date", "year", "amount", "duration_months", "fingerprint", "occurrence", *TEXTS)

TYPES = {"spend_date": sa.Date(), "amount": sa.Numeric(14, 2), "year": sa.Integer(), "duration_months": sa.Integer()}
spend_line = sa.table(
    "spend_line",
    *(sa.column(name, TYPES.get(name)) for name in ("id", "import_id", "organization_id", *LINE_COLUMNS)),
)
spend_block = sa.table(
    "spend_block",
    *(sa.column(name) for name in ("id", "import_id", "organization_id", "seq", "line_count", "lines")),
)


def _random_id() -> int:
    return secrets.randbelow(2**53 - 1) + 1


def _encode(rows: list) -> bytes:
    columns = {
        "spend_date": pa.array([row.spend_date for row in rows], pa.date32()),
        "year": pa.array([row.year for row in rows], pa.int16()),
        "amount_cents": pa.array([int(Decimal(row.amount) * 100) for row in rows], pa.int64()),
        "duration_months": pa.array([row.duration_months for row in rows], pa.int32()),
        "fingerprint": pa.array([bytes.fromhex(row.fingerprint) for row in rows], pa.binary(16)),
        "occurrence": pa.array([row.occurrence for row in rows], pa.int32()),
        **{name: pa.array([getattr(row, name) for row in rows], pa.string()) for name in TEXTS},
    }
    sink = io.BytesIO()
    pq.write_table(pa.table(columns, schema=SCHEMA), sink, compression="zstd", row_group_size=5_000)
    return sink.getvalue()


def upgrade():
    op.create_table(
        "spend_block",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("import_id", Id, nullable=False),
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("lines", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("line_count > 0", name=op.f("ck_spend_block_line_count_positive")),
        sa.ForeignKeyConstraint(
            ["import_id", "organization_id"],
            ["spend_import.id", "spend_import.organization_id"],
            name="fk_spend_block_import_id_spend_import",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_block")),
        sa.UniqueConstraint("import_id", "seq", name="uq_spend_block_import_seq"),
    )
    with op.batch_alter_table("spend_block", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spend_block_import_id"), ["import_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_spend_block_organization_id"), ["organization_id"], unique=False)

    connection = op.get_bind()
    imports = connection.execute(sa.text("SELECT DISTINCT import_id, organization_id FROM spend_line")).all()
    for import_id, organization_id in imports:
        lines = connection.execute(
            sa.select(*(spend_line.c[name] for name in LINE_COLUMNS))
            .where(spend_line.c.import_id == import_id)
            .order_by(spend_line.c.id)
            .execution_options(yield_per=BLOCK_LINES)
        )
        for seq, rows in enumerate(lines.partitions(BLOCK_LINES)):
            connection.execute(
                spend_block.insert(),
                {
                    "id": _random_id(),
                    "import_id": import_id,
                    "organization_id": organization_id,
                    "seq": seq,
                    "line_count": len(rows),
                    "lines": _encode(rows),
                },
            )
    op.drop_table("spend_line")


def downgrade():
    fingerprint = sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql")
    op.create_table(
        "spend_line",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("import_id", Id, nullable=False),
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("spend_date", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("cpv_code", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("supplier_siret", sa.String(length=14), nullable=True),
        sa.Column("supplier_name", sa.String(length=200), nullable=True),
        sa.Column("supplier_postcode", sa.String(length=5), nullable=True),
        sa.Column("supplier_city", sa.String(length=120), nullable=True),
        sa.Column("co_contractors", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source_ref", sa.String(length=100), nullable=True),
        sa.Column("procedure", sa.String(length=120), nullable=True),
        sa.Column("duration_months", sa.Integer(), nullable=True),
        sa.Column("fingerprint", fingerprint, nullable=False),
        sa.Column("occurrence", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_spend_line_amount_positive")),
        sa.ForeignKeyConstraint(["cpv_code"], ["cpv_code.code"], name=op.f("fk_spend_line_cpv_code_cpv_code")),
        sa.ForeignKeyConstraint(
            ["import_id", "organization_id"],
            ["spend_import.id", "spend_import.organization_id"],
            name="fk_spend_line_import_id_spend_import",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_line")),
    )
    with op.batch_alter_table("spend_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spend_line_import_id"), ["import_id"], unique=False)
        batch_op.create_index(
            "uq_spend_line_organization_fingerprint_occurrence",
            ["organization_id", "fingerprint", "occurrence"],
            unique=True,
        )

    connection = op.get_bind()
    blocks = connection.execute(sa.select(spend_block.c.import_id, spend_block.c.organization_id, spend_block.c.lines))
    for import_id, organization_id, data in blocks.all():
        table = pq.read_table(io.BytesIO(data))
        values = {name: table.column(name).to_pylist() for name in table.column_names}
        rows = [
            {
                "id": _random_id(),
                "import_id": import_id,
                "organization_id": organization_id,
                "amount": Decimal(values["amount_cents"][index]).scaleb(-2),
                "fingerprint": values["fingerprint"][index].hex(),
                **{name: values[name][index] for name in ("spend_date", "year", "duration_months", "occurrence")},
                **{name: values[name][index] for name in TEXTS},
            }
            for index in range(table.num_rows)
        ]
        connection.execute(spend_line.insert(), rows)
    op.drop_table("spend_block")
