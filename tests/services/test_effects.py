"""Side effects bound to the transaction (app.effects): after the commit, or never; undone on a rollback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import actions, effects
from app.calls import services as call_services
from app.calls.models import CallDocument
from app.errors import ValidationFailed
from app.organizations.models import Organization
from tests import factories

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"


def test_effects_run_in_order_after_the_commit_and_never_after_a_rollback(session):
    done: list[str] = []
    effects.after_commit(session, lambda: done.append("first"))
    effects.after_commit(session, lambda: done.append("second"))
    factories.organization("AAA")
    session.flush()
    assert done == []
    session.commit()
    assert done == ["first", "second"]

    effects.after_commit(session, lambda: done.append("rolled back"))
    session.rollback()
    session.commit()  # a later commit does not bring it back
    assert done == ["first", "second"]


def test_undo_runs_on_a_rollback_or_a_close_and_is_dropped_by_a_commit(session):
    undone: list[str] = []
    effects.on_rollback(session, lambda: undone.append("a"))
    effects.on_rollback(session, lambda: undone.append("b"))
    session.rollback()
    assert undone == ["b", "a"]  # last done, first undone

    effects.on_rollback(session, lambda: undone.append("kept"))
    session.commit()
    session.rollback()
    assert undone == ["b", "a"]

    factories.organization("BBB")
    effects.on_rollback(session, lambda: undone.append("closed"))
    effects.after_commit(session, lambda: undone.append("never"))
    session.close()  # ended without a commit
    assert undone == ["b", "a", "closed"]


def test_a_savepoint_rolled_back_drops_only_what_was_queued_inside_it(session):
    done: list[str] = []
    undone: list[str] = []
    effects.after_commit(session, lambda: done.append("outer"))
    nested = session.begin_nested()
    effects.after_commit(session, lambda: done.append("inner"))
    effects.on_rollback(session, lambda: undone.append("inner"))
    nested.rollback()
    assert undone == ["inner"]
    with session.begin_nested():
        effects.after_commit(session, lambda: done.append("released"))
    assert done == []  # a released savepoint waits for the outermost commit
    session.commit()
    assert done == ["outer", "released"]


def test_a_failing_effect_is_logged_and_neither_undoes_the_commit_nor_stops_the_others(session, caplog):
    done: list[str] = []

    def broken():
        raise RuntimeError("the outside world is down")

    effects.after_commit(session, broken, "broken effect")
    effects.after_commit(session, lambda: done.append("next"))
    factories.organization("CCC")
    with caplog.at_level(logging.ERROR, logger="mutualis.effects"):
        session.commit()
    assert done == ["next"]
    assert any("broken effect" in r.getMessage() and r.exc_info for r in caplog.records)
    session.rollback()
    assert session.scalar(sa.select(Organization.code).where(Organization.code == "CCC")) == "CCC"


@pytest.fixture
def draft_call(db, clock):
    group, _orgs, coordinator = factories.constituted_group()
    call = factories.call(coordinator, group)
    db.session.commit()
    return coordinator, call


def _stored_files(app) -> set[Path]:
    folder = Path(app.config["UPLOAD_FOLDER"]) / "calls"
    return set(folder.iterdir()) if folder.is_dir() else set()


def test_a_document_file_is_removed_when_its_row_is_rolled_back_and_kept_when_committed(app, session, draft_call):
    coordinator, call = draft_call
    before = _stored_files(app)

    def add_then_refuse():
        call_services.add_document(session, coordinator, call, "cahier.pdf", PDF, app.config["UPLOAD_FOLDER"])
        assert len(_stored_files(app) - before) == 1  # written during the transaction
        raise ValidationFailed({"file": ["refused after the file was written"]})

    with pytest.raises(ValidationFailed):
        actions.run(add_then_refuse)
    assert _stored_files(app) == before
    assert session.scalar(sa.select(sa.func.count(CallDocument.id))) == 0

    document = actions.run(
        lambda: call_services.add_document(session, coordinator, call, "cahier.pdf", PDF, app.config["UPLOAD_FOLDER"])
    )
    added = _stored_files(app) - before
    assert [path.name for path in added] == [document.storage_key]
    for path in added:
        path.unlink()
