"""The seal of calls without a committee: opened at closing with the server key; a server key that changed leaves
the call closed but sealed, until the key is back (no bid is lost, nothing is opened with a wrong key)."""

from datetime import timedelta

import pytest

from app.calls import services
from app.calls.services import sealing
from app.errors import Conflict
from tests import factories
from tests.factories import CALLS_DEADLINE as DEADLINE


@pytest.fixture
def published(db, clock):
    group, _orgs, coordinator = factories.constituted_group()
    company = factories.supplier_company(trades=("09310000",), postcode="21000")
    supplier = factories.user("supplier", supplier=company)
    call = factories.call(coordinator, group, publish=True)
    placed = factories.bid(supplier, call, "4567.89", technical_note="secret note")
    db.session.commit()
    return call, placed, coordinator


def test_a_changed_server_key_leaves_the_call_closed_and_sealed_until_the_key_is_back(app, db, clock, published):
    call, placed, coordinator = published
    right = sealing.server_key().hex()
    db.session.expire_all()
    assert db.session.get(type(placed), placed.id).amount is None  # stored sealed
    clock.move_to(DEADLINE + timedelta(minutes=1))
    app.config["BID_SEALING_KEY"] = "00" * 32
    try:
        assert services.close_due_calls(db.session) == [call.id]
        db.session.commit()
        db.session.expire_all()
        assert call.status == "closed" and call.opened_at is None
        with pytest.raises(Conflict) as refused:
            services.ranking(db.session, coordinator, call)
        assert refused.value.code == "bids_not_opened"
    finally:
        app.config["BID_SEALING_KEY"] = right
    services.close_due_calls(db.session)
    db.session.commit()
    db.session.expire_all()
    assert call.opened_at is not None
    (bid,) = services.list_bids(db.session, coordinator, call)
    assert str(bid.amount) == "4567.89" and bid.technical_note == "secret note"
