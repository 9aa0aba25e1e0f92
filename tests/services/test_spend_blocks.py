"""Spend lines kept columnar: the blocks' keys, the drill-down across blocks, and the migration that moved the lines."""

from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa

from app.domain.spend_import import fingerprint
from app.spend import blocks, services
from app.spend.models import SpendBlock
from tests import factories
from tests.factories import ledger


def _keys(*keys):
    """(fingerprints, occurrences) from (high 64 bits, low 64 bits, occurrence) triples."""
    halves = np.array([[high, low] for high, low, _ in keys], dtype=">u8").reshape(-1, 2)
    return halves.view(blocks.FINGERPRINT).ravel(), np.array([o for _, _, o in keys], dtype=np.int64)


def _block_keys(block: SpendBlock) -> list[tuple[bytes, int]]:
    """A block's keys as packed beside it, and as its Parquet file holds them."""
    packed = np.frombuffer(block.keys, dtype=blocks.PACKED_KEY)
    table = blocks.decode(block.lines, ["fingerprint", "occurrence"])
    in_file = list(zip(table.column("fingerprint").to_pylist(), table.column("occurrence").to_pylist(), strict=True))
    assert [(bytes(f), int(o)) for f, o in zip(packed["fingerprint"], packed["occurrence"], strict=True)] == in_file
    return in_file


def test_stored_keys_match_exactly_even_when_two_keys_mix_to_the_same_64_bits():
    mix = int(blocks._MIX)
    first = (0x1234, 7, 0)
    # the same mixed key as `first` with occurrence 1: high ^ (1 * mix) == 0x1234 ^ (0 * mix)
    twin_mix = (0x1234 ^ mix, 7, 1)
    stored = blocks.LineKeys(*_keys(first, twin_mix))
    assert len(set(stored.mixed.tolist())) == 1  # both stored keys share their 64 bits
    asked = _keys(first, twin_mix, (0x1234, 8, 0), (0x1234, 7, 1), (0x1234 ^ mix, 7, 0), (99, 7, 0))
    assert stored.contains(*asked).tolist() == [True, True, False, False, False, False]
    assert blocks.LineKeys(*_keys()).contains(*asked).tolist() == [False] * 6


def test_stored_keys_answer_for_each_asked_key_in_the_order_asked():
    rng = np.random.default_rng(8)
    halves, occurrences = rng.integers(0, 2**63, size=(3_000, 2)), rng.integers(0, 3, 3_000)
    triples = [(int(h), int(low), int(o)) for (h, low), o in zip(halves, occurrences, strict=True)]
    stored, reference = blocks.LineKeys(*_keys(*triples[:2_000])), set(triples[:2_000])
    # asked in a shuffled order: stored keys, keys never stored, stored keys with another occurrence
    asked = [triples[i] for i in rng.permutation(3_000)] + [(h, low, o + 1) for h, low, o in triples[:300]]
    assert stored.contains(*_keys(*asked)).tolist() == [key in reference for key in asked]


# 3,000 fingerprints: sharing their first halves in threes (differing in their last bytes only), or all different
_SHARED_FIRST_HALVES = [(n % 1_000, n // 1_000, 0) for n in range(3_000)]
_DISTINCT_FIRST_HALVES = [(n * 7_919 + 13, n % 5, 0) for n in range(3_000)]


@pytest.mark.parametrize("pool", [_SHARED_FIRST_HALVES, _DISTINCT_FIRST_HALVES], ids=["shared halves", "distinct"])
def test_occurrences_count_each_fingerprint_across_the_slices_of_a_file_as_a_plain_counter_does(pool):
    from collections import Counter

    rng = np.random.default_rng(5)
    # 40 slices of varied sizes drawing from the pool: a fingerprint comes back within a slice and across slices
    pool, _ = _keys(*pool)
    counts, reference = blocks.FingerprintCounts(), Counter()
    for size in rng.integers(0, 400, size=40):
        slice_ = pool[rng.integers(0, len(pool), size=size)]
        expected = []
        for key in (bytes(f) for f in slice_):
            expected.append(reference[key])
            reference[key] += 1
        assert blocks.occurrences(slice_, counts).tolist() == expected
    assert len(counts.runs) <= 12  # merged as they grow
    assert counts.before(*blocks._halves(pool)).tolist() == [reference[bytes(f)] for f in pool]


@pytest.fixture
def orgs(db):
    dm, chu = factories.organization("DM"), factories.organization("CHU")
    people = {"dm": factories.user("buyer", organization_=dm), "coord": factories.user("coordinator")}
    db.session.commit()
    return {"DM": dm, "CHU": chu, **people}


def test_an_import_stores_a_block_per_slice_and_reads_back_every_value(session, orgs):
    rows = [f"0{day}/02/2025;Fournisseur {day};;30192000;{day}0,5;Ramettes {day};21000" for day in range(1, 6)]
    record = services.import_spend(session, orgs["dm"], ledger(*rows), "a.csv", chunk_rows=2)
    stored = session.scalars(sa.select(SpendBlock).order_by(SpendBlock.seq)).all()
    assert [(b.seq, b.line_count) for b in stored] == [(0, 2), (1, 2), (2, 1)]
    lines = factories.stored_lines(session, import_id=record.id)
    assert [line.amount for line in lines] == [Decimal(f"{day}0.50") for day in range(1, 6)]
    keys = [key for block in stored for key in _block_keys(block)]  # packed beside each block as in its file
    digests = [fingerprint({**line.__dict__, "row": 0}) for line in lines]
    assert keys == [(bytes.fromhex(digest), 0) for digest in digests]
    packed = blocks.LineKeys.from_packed(block.keys for block in stored)
    assert len(packed) == 5 and packed.contains(blocks.fingerprints_of(digests), [0] * 5).all()
    first = lines[0]
    assert (first.spend_date.isoformat(), first.year, first.cpv_code, first.supplier_postcode) == (
        "2025-02-01",
        2025,
        "30192000",
        "21000",
    )
    assert (first.supplier_name, first.description, first.supplier_siret, first.source_ref) == (
        "Fournisseur 1",
        "Ramettes 1",
        None,
        None,
    )


def test_the_drill_down_sorts_every_block_of_the_scope_largest_first_and_pages_them(session, orgs):
    amounts = [7, 300, 12, 45, 300, 1, 88]
    rows = [f"01/02/2025;S{n};;30192000;{a},00;;" for n, a in enumerate(amounts)]
    services.import_spend(session, orgs["dm"], ledger(*rows), "dm.csv", chunk_rows=3)
    services.import_spend(
        session, orgs["coord"], ledger("01/02/2025;X;;30197000;150,00;;"), "chu.csv", organization="CHU"
    )
    services.import_spend(session, orgs["dm"], ledger("01/02/2025;Y;;45000000;9999,00;;"), "works.csv")
    selection = services.spend_lines(session, orgs["coord"], prefix="3019")
    assert [line.amount for line in selection] == [Decimal(a) for a in (300, 300, 150, 88, 45, 12, 7, 1)]
    assert [line.amount for line in selection[2:4]] == [Decimal(150), Decimal(88)]
    assert selection[-1].amount == Decimal(1) and selection[-1].supplier_name == "S5"
    own = services.spend_lines(session, orgs["dm"], prefix="3019")  # a buyer: its own organization's lines only
    assert len(own) == 7 and {line.organization_id for line in own} == {orgs["DM"].id}
    assert [line.amount for line in services.spend_lines(session, orgs["coord"], prefix="30197")] == [Decimal(150)]
    assert len(services.spend_lines(session, orgs["coord"], prefix="3019", year=2024)) == 0


def test_a_rollback_removes_the_imports_blocks_and_its_lines_leave_the_drill_down(session, orgs):
    record = services.import_spend(session, orgs["dm"], ledger("01/02/2025;A;;30192000;100,00;;"), "a.csv")
    session.commit()
    assert len(services.spend_lines(session, orgs["coord"], prefix="30")) == 1
    services.rollback_import(session, factories.user("admin"), record.id)
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(SpendBlock)) == 0
    assert len(services.spend_lines(session, orgs["coord"], prefix="30")) == 0
    again = services.import_spend(session, orgs["dm"], ledger("01/02/2025;A;;30192000;100,00;;"), "b.csv")
    assert again.line_count == 1 and again.skipped_count == 0  # the rolled-back line is no longer known


def test_two_files_sharing_lines_imported_at_once_count_each_line_once(app, db):
    """Two imports for one organization at the same time: one waits for the other (the organization's row is
    locked, or SQLite's write lock held) and then leaves out the lines the first stored."""
    import threading

    from app import actions
    from app.actors import SYSTEM

    dm = factories.organization("DM")
    db.session.commit()
    shared = [f"01/02/2025;A;;30192000;{n},00;;" for n in range(1, 41)]
    files = {
        "a.csv": ledger(*shared, "02/02/2025;B;;30192000;1000,00;;"),
        "b.csv": ledger(*reversed(shared), "03/02/2025;C;;30192000;2000,00;;"),
    }
    errors: list[BaseException] = []
    start = threading.Barrier(len(files))

    def load(name: str) -> None:
        try:
            with app.app_context():
                start.wait()
                actions.run(
                    lambda: services.import_spend(db.session, SYSTEM, files[name], name, organization="DM"),
                    attempts=5,
                )
                db.session.remove()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=load, args=(name,)) for name in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    lines = factories.stored_lines(db.session, organization_id=dm.id)
    assert len(lines) == 42 and sum(line.amount for line in lines) == Decimal(820 + 3000)
    counts = sorted(db.session.execute(sa.text("SELECT line_count, skipped_count FROM spend_import")).all())
    assert counts == [(1, 40), (41, 0)]


def test_the_drill_down_leaves_out_a_block_deleted_after_it_was_listed(session, orgs, monkeypatch):
    """At READ COMMITTED a rollback may commit between the statement that lists the scope's blocks and the one that
    reads them: the selection answers with the lines still stored, never an error."""
    rows = [f"01/02/2025;S{n};;30192000;{n + 1},00;;" for n in range(6)]
    services.import_spend(session, orgs["dm"], ledger(*rows), "dm.csv", chunk_rows=3)
    session.commit()
    found = session.execute(
        sa.select(SpendBlock.seq, SpendBlock.id, SpendBlock.import_id, SpendBlock.organization_id, SpendBlock.lines)
    ).all()
    listed = {
        seq: blocks.Block(block_id, import_id, organization) for seq, block_id, import_id, organization, _ in found
    }
    stored = {block_id: data for _, block_id, _, _, data in found}
    monkeypatch.setattr(blocks, "_filters", blocks.LRUCache(maxsize=blocks.FILTERS_BYTES))  # nothing kept yet
    monkeypatch.setattr(blocks, "_blocks", blocks.LRUCache(maxsize=blocks.BLOCKS_BYTES))

    def read_but(deleted: blocks.Block):
        return lambda ids: {block_id: stored[block_id] for block_id in ids if block_id != deleted.id}

    # deleted before its columns were read: the first block's lines (1 to 3 euros) are not in the selection
    selection = blocks.LineSelection(listed.values(), read_but(listed[0]), "3019", None)
    assert [line.amount for line in selection] == [Decimal(6), Decimal(5), Decimal(4)]

    # deleted after the selection was sorted, before its page was read: the page holds the other block's lines
    selection = blocks.LineSelection(listed.values(), lambda ids: {i: stored[i] for i in ids}, "3019", None)
    assert len(selection) == 6
    blocks._blocks.clear()  # the blocks' bytes no longer kept
    selection.read = read_but(listed[1])
    assert [line.amount for line in selection[:4]] == [Decimal(3)]  # of 6, 5, 4, 3: the deleted block held 4 to 6
    assert [line.amount for line in selection] == [Decimal(3), Decimal(2), Decimal(1)]
