"""Schemathesis against the API's own OpenAPI document, through the WSGI app, as a buyer, the coordinator and a
supplier of the demo: no answer may be a server error, and every answer (the error envelope included) must be one the
document describes. Each operation gets a bounded number of generated requests, so the module runs in the normal
suite, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.calls.models import Bid, Call, CallDocument, Question
from app.demo import seed_demo
from app.groups.models import Lot, PurchaseGroup
from app.needs.models import Need
from app.spend.models import SpendImport
from tests.conftest import api_token

pytestmark = pytest.mark.fuzz

DEMO_PASSWORD = "mutualis-demo"  # noqa: S105 - the documented demo password
ROLES = {
    "buyer": "achats.chu@demo.mutualis.fr",
    "coordinator": "coordination@demo.mutualis.fr",
    "supplier": "fournisseur1@demo.mutualis.fr",
}
# Generated requests per operation and per kind (10 to 15 per operation): valid data on random ids, valid data on the
# demo's own rows (so that handlers run past their lookups), and data that breaks the document (wrong types, missing
# fields).
# FUZZ_EXAMPLES=25 ./scripts/test tests/fuzz -s explores further (a few minutes).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, response_schema_conformance]
REVOKE = "DELETE /api/v1/tokens/current"
ANSWERED_AT_LEAST = {"buyer": 10, "coordinator": 10, "supplier": 5}
DEMO_ROWS = {
    "need_id": Need.id,
    "group_id": PurchaseGroup.id,
    "lot_id": Lot.id,
    "call_id": Call.id,
    "bid_id": Bid.id,
    "document_id": CallDocument.id,
    "question_id": Question.id,
    "import_id": SpendImport.id,
}


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    answered: set[str] = field(default_factory=set)  # operations that answered 2xx at least once
    server_errors: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def _demo_ids(session) -> dict[str, int]:
    return {name: session.scalar(sa.select(column).order_by(column).limit(1)) for name, column in DEMO_ROWS.items()}


def _fuzz(operation, strategy, headers: dict, tally: Tally) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        # Every failure of every operation is collected, then reported together (hypothesis would stop at the first).
        try:
            response = case.call(headers=headers)
        except Exception as error:  # an exception out of the app is a server error too
            tally.requests += 1
            tally.server_errors.append(f"{operation.label} raised {error!r}"[:400])
            return
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        if response.status_code < 300:
            tally.answered.add(operation.label)
        if response.status_code >= 500:
            tally.server_errors.append(f"{operation.label} {response.status_code} {response.text[:300]}")
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as failure:
            key = f"{operation.label} -> {response.status_code}"
            tally.failures.setdefault(key, re.sub(r"\s+", " ", str(failure))[:600])

    run()


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_api_gives_no_server_error_and_answers_as_documented(session, web_app, client, record_property, role):
    seed_demo(session)
    session.commit()
    ids = _demo_ids(session)
    headers = api_token(client, ROLES[role], DEMO_PASSWORD)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", web_app)
    tally = Tally()
    operations = 0
    # Revoking the token (DELETE /tokens/current) goes last: every request after it would only be refused.
    ordered = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.label == REVOKE)
    for operation in ordered:
        operations += 1
        known = {p.name: ids[p.name] for p in operation.path_parameters if ids.get(p.name)}
        _fuzz(operation, operation.as_strategy(GenerationMode.POSITIVE), headers, tally)
        if known:
            _fuzz(operation, operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known), headers, tally)
        _fuzz(operation, operation.as_strategy(GenerationMode.NEGATIVE), headers, tally)
    print(
        f"\nschemathesis as {role}: {operations} operations, {tally.requests} requests, "
        f"{len(tally.server_errors)} server errors, {len(tally.failures)} failing operation/status pairs; "
        f"statuses {dict(sorted(tally.statuses.items()))}; {len(tally.answered)} operations answered 2xx"
    )
    record_property("requests", tally.requests)
    record_property("server_errors", len(tally.server_errors))
    assert operations >= 40
    assert tally.requests >= operations * EXAMPLES * 2  # every operation was sent requests of two kinds at least
    # The token worked: handlers ran and answered, not only refusals (a supplier may use fewer operations).
    assert len(tally.answered) >= ANSWERED_AT_LEAST[role], tally.answered
    assert tally.server_errors == [], "\n".join(tally.server_errors[:20])
    assert tally.failures == {}, json.dumps(tally.failures, indent=1, ensure_ascii=False)[:20000]
