"""Access control as a matrix: every operation of the URL map (pages and /api/v1, every method) × role × whose
object it is, with the outcome each cell must have declared in one table, deny by default.

The world (tests/security/world.py) holds two buyer organizations (UB, the buyer's own, and GDH, another), the
coordinator, the admin, two suppliers and anonymous visitors; a row's path arguments are filled once with the buyer's
organization's or the first supplier's objects ("own") and once with another organization's or supplier's
("other"). Changes are sent with what lets them past CSRF (pages: the session's token; API: a bearer token alone), so
that a refusal counted is an authorization refusal.

Outcomes: ok (past authorization: any answer but 401, 403, 404, a login redirect or a 5xx), login (pages: redirect to
the login page; API: 401), 403, 404. A cell written "a/b" is "a" on the role's own object, "b" on another's.
Columns: anonymous, admin, coordinator, buyer (of UB), supplier (the first one).

Policy the table writes down:
* a buyer reads and changes its own organization's needs, imports, groups it is a member of and their calls; another
  organization's are 404 (not 403: their existence is not told);
* suppliers see published calls, their own bids (another supplier's bid is 404 everywhere), and nothing of buyers'
  needs, groups or spend (403);
* before the deadline nobody but the bidder reads a bid: 404 for one bid (whether it exists or not), 403 bids_sealed
  for a call's bids and ranking;
* coordinators manage groups and calls, admins reference data, accounts and import rollbacks;
* upload tokens of another session and unknown invitation/registration links are 404;
* `GET /bids/<id>` (where a notification leads) only redirects a supplier to the receipt page, which looks the bid
  up: it answers the same for every id.
* anonymous visitors read published calls, their documents, answers and award notices (pages and API); drafts are 404;
* a supplier reads the letter of its own bid once it is not retained: before the lot is decided it is 404 too.
* contracts: a member's buyer reads and acts on its organization's (another's is 404), coordinators on all (they
  sign and amend, they do not order or evaluate), admins read; a supplier reads only the ones it holds (the demo's
  are another supplier's: 404) and has no renewal radar;
* the opening committee (issue 16): the API's enrol/opening pass the role check for coordinators and buyers (an
  empty body is then a 400); being a member of the call's committee is checked by the service (403), and the
  world's call has no committee (its committee page and form are 404). Tested in
  tests/api/test_committee_api.py and tests/web/test_committee_pages.py;
"""

from __future__ import annotations

import pytest

from tests.security.walk import Session, operations, outcome, walk
from tests.security.world import build_world

ROLES = ("anonymous", "admin", "coordinator", "buyer", "supplier")

TABLE = {
    ("GET", "/"): "ok ok ok ok ok",
    ("GET", "/account/password"): "login ok ok ok ok",
    ("POST", "/account/password"): "login ok ok ok ok",
    ("GET", "/account/bids"): "login 403 403 403 ok",
    ("GET", "/account/subscriptions"): "login 403 403 403 ok",
    ("POST", "/account/subscriptions"): "login 403 403 403 ok",
    ("GET", "/admin/audit"): "login ok 403 403 403",
    ("GET", "/admin/invitations/new"): "login ok 403 403 403",
    ("POST", "/admin/invitations/new"): "login ok 403 403 403",
    ("GET", "/admin/organizations"): "login ok 403 403 403",
    ("GET", "/admin/organizations/<int:organization_id>"): "login ok 403 403 403",
    ("POST", "/admin/organizations/<int:organization_id>"): "login ok 403 403 403",
    ("GET", "/admin/organizations/new"): "login ok 403 403 403",
    ("POST", "/admin/organizations/new"): "login ok 403 403 403",
    ("GET", "/admin/suppliers"): "login ok ok 403 403",
    ("GET", "/admin/users"): "login ok 403 403 403",
    ("POST", "/admin/users/<int:user_id>/deactivate"): "login ok 403 403 403",
    ("POST", "/admin/users/<int:user_id>/reactivate"): "login ok 403 403 403",
    ("POST", "/admin/users/<int:user_id>/role"): "login ok 403 403 403",
    ("DELETE", "/api/v1/bids/<int:bid_id>"): "login 403 403 403 ok/404",
    ("GET", "/api/v1/bids/<int:bid_id>"): "login 404 404 404 ok/404",
    ("GET", "/api/v1/bids/<int:bid_id>/documents/<int:document_id>"): "login 404 404 404 404",
    ("GET", "/api/v1/calls"): "ok ok ok ok ok",
    ("GET", "/api/v1/calls/<int:call_id>"): "ok ok ok ok/404 ok",
    ("POST", "/api/v1/calls/<int:call_id>/awards"): "login 403 ok 403 403",
    ("GET", "/api/v1/calls/<int:call_id>/bids"): "login 403 403 403/404 ok",
    ("POST", "/api/v1/calls/<int:call_id>/bids"): "login 403 403 403 ok",
    ("POST", "/api/v1/calls/<int:call_id>/committee/enrol"): "login 403 ok ok 403",
    ("POST", "/api/v1/calls/<int:call_id>/documents"): "login 403 ok 403 403",
    ("GET", "/api/v1/calls/<int:call_id>/documents/<int:document_id>"): "ok ok ok ok/404 ok",
    ("GET", "/api/v1/calls/<int:call_id>/ocds"): "ok ok ok ok/404 ok",
    ("POST", "/api/v1/calls/<int:call_id>/opening"): "login 403 ok ok 403",
    ("GET", "/api/v1/calls/<int:call_id>/opening-record"): "login ok ok ok/404 403",
    ("POST", "/api/v1/calls/<int:call_id>/publish"): "login 403 ok 403 403",
    ("POST", "/api/v1/calls/<int:call_id>/questions"): "login 403 403 403 ok",
    ("POST", "/api/v1/calls/<int:call_id>/questions/<int:question_id>/answer"): "login 403 ok 403 403",
    ("GET", "/api/v1/calls/<int:call_id>/ranking"): "login 403 403 403/404 403",
    ("POST", "/api/v1/calls/<int:call_id>/scores"): "login 403 ok 403 403",
    ("GET", "/api/v1/cpv"): "login ok ok ok ok",
    ("GET", "/api/v1/contracts"): "login ok ok ok ok",
    ("GET", "/api/v1/contracts/<int:contract_id>"): "login ok ok ok/404 404",
    ("POST", "/api/v1/contracts/<int:contract_id>/amendments"): "login 403 ok ok/404 403",
    ("POST", "/api/v1/contracts/<int:contract_id>/evaluation"): "login 403 403 ok/404 403",
    ("GET", "/api/v1/contracts/<int:contract_id>/orders"): "login ok ok ok/404 404",
    ("POST", "/api/v1/contracts/<int:contract_id>/orders"): "login 403 403 ok/404 403",
    ("POST", "/api/v1/contracts/<int:contract_id>/renewal-need"): "login 403 403 ok/404 403",
    ("POST", "/api/v1/contracts/<int:contract_id>/sign"): "login 403 ok ok/404 403",
    ("GET", "/api/v1/contracts/expiring"): "login ok ok ok 403",
    ("GET", "/contracts"): "login ok ok ok ok",
    ("GET", "/contracts/<int:contract_id>"): "login ok ok ok/404 404",
    ("POST", "/contracts/<int:contract_id>/amendments"): "login 403 ok ok/404 403",
    ("POST", "/contracts/<int:contract_id>/evaluation"): "login 403 403 ok/404 403",
    ("POST", "/contracts/<int:contract_id>/orders"): "login 403 403 ok/404 403",
    ("POST", "/contracts/<int:contract_id>/renewal-need"): "login 403 403 ok/404 403",
    ("POST", "/contracts/<int:contract_id>/sign"): "login 403 ok ok/404 403",
    ("GET", "/contracts/renewals"): "login ok ok ok 403",
    ("GET", "/api/v1/groups"): "login ok ok ok 403",
    ("POST", "/api/v1/groups"): "login 403 ok 403 403",
    ("GET", "/api/v1/groups/<int:group_id>"): "login ok ok ok/404 403",
    ("PATCH", "/api/v1/groups/<int:group_id>"): "login 403 ok 403 403",
    ("POST", "/api/v1/groups/<int:group_id>/calls"): "login 403 ok 403 403",
    ("POST", "/api/v1/groups/<int:group_id>/confirm"): "login 403 403 ok/404 403",
    ("POST", "/api/v1/groups/<int:group_id>/constitute"): "login 403 ok 403 403",
    ("POST", "/api/v1/groups/<int:group_id>/decline"): "login 403 403 ok/404 403",
    ("GET", "/api/v1/groups/<int:group_id>/events"): "login ok ok ok/404 403",
    ("POST", "/api/v1/groups/<int:group_id>/invite"): "login 403 ok 403 403",
    ("POST", "/api/v1/groups/<int:group_id>/lots"): "login 403 ok 403 403",
    ("DELETE", "/api/v1/groups/<int:group_id>/lots/<int:lot_id>"): "login 403 ok 403 403",
    ("PATCH", "/api/v1/groups/<int:group_id>/lots/<int:lot_id>"): "login 403 ok 403 403",
    ("POST", "/api/v1/groups/<int:group_id>/sign"): "login 403 403 ok/404 403",
    ("GET", "/api/v1/audit"): "login ok 403 403 403",
    ("GET", "/api/v1/decp"): "login ok ok ok 403",
    ("GET", "/api/v1/needs"): "login ok ok ok 403",
    ("POST", "/api/v1/needs"): "login 403 403 ok 403",
    ("DELETE", "/api/v1/needs/<int:need_id>"): "login 403 403 ok/404 403",
    ("GET", "/api/v1/needs/<int:need_id>"): "login ok ok ok/404 403",
    ("PATCH", "/api/v1/needs/<int:need_id>"): "login 403 403 ok/404 403",
    ("POST", "/api/v1/needs/import"): "login 403 403 ok 403",
    ("GET", "/api/v1/openapi.json"): "ok ok ok ok ok",
    ("GET", "/api/v1/organizations"): "login ok ok ok ok",
    ("GET", "/api/v1/overlaps"): "login ok ok ok 403",
    ("GET", "/api/v1/impact/portfolio"): "login ok ok ok 403",
    ("GET", "/api/v1/spend/carbon"): "login ok ok ok 403",
    ("GET", "/api/v1/spend/cube"): "login ok ok ok 403",
    ("POST", "/api/v1/spend/import"): "login ok ok ok 403",
    ("GET", "/api/v1/spend/imports"): "login ok ok ok 403",
    ("GET", "/api/v1/spend/imports/<int:import_id>/quarantine"): "login ok ok ok/404 403",
    ("POST", "/api/v1/spend/imports/<int:import_id>/rollback"): "login ok 403 403 403",
    ("GET", "/api/v1/spend/local-share"): "login ok ok ok 403",
    ("GET", "/api/v1/spend/pooling"): "login ok ok ok 403",
    ("GET", "/api/v1/spend/savings/overlaps"): "login ok ok ok 403",
    ("POST", "/api/v1/tokens"): "ok ok ok ok ok",
    ("DELETE", "/api/v1/tokens/current"): "login ok ok ok ok",
    ("GET", "/bids/<int:bid_id>"): "login 403 403 403 ok",
    ("GET", "/bids/<int:bid_id>/receipt"): "login 403 403 403 ok/404",
    ("GET", "/bids/<int:bid_id>/receipt.json"): "login 403 403 403 ok/404",
    ("GET", "/bids/<int:bid_id>/receipt.pdf"): "login 403 403 403 ok/404",
    # the world's bids are not decided: no letter yet (tests/web/test_outcome_pages.py reads one once it is)
    ("GET", "/bids/<int:bid_id>/letter"): "login 403 403 403 404",
    ("POST", "/bids/<int:bid_id>/withdraw"): "login 403 403 403 ok/404",
    ("GET", "/calls"): "ok ok ok ok ok",
    ("GET", "/calls/<int:call_id>"): "ok ok ok ok/404 ok",
    ("POST", "/calls/<int:call_id>/awards"): "login 403 ok 403 403",
    ("POST", "/calls/<int:call_id>/bids"): "login 403 403 403 ok",
    ("POST", "/calls/<int:call_id>/cancel"): "login 403 ok 403 403",
    ("GET", "/calls/<int:call_id>/committee"): "login 404 404 404 403",
    ("POST", "/calls/<int:call_id>/committee"): "login 403 404 404 403",
    ("POST", "/calls/<int:call_id>/documents"): "login 403 ok 403 403",
    ("GET", "/calls/<int:call_id>/documents/<int:document_id>"): "ok ok ok ok/404 ok",
    ("POST", "/calls/<int:call_id>/lots/<int:lot_id>/scores"): "login 403 ok 403 403",
    ("POST", "/calls/<int:call_id>/lots/<int:lot_id>/unsuccessful"): "login 403 ok 403 403",
    ("GET", "/calls/<int:call_id>/opening-record"): "login ok ok ok/404 403",
    ("POST", "/calls/<int:call_id>/publish"): "login 403 ok 403 403",
    ("POST", "/calls/<int:call_id>/questions"): "login 403 403 403 ok",
    ("POST", "/calls/<int:call_id>/questions/<int:question_id>/answer"): "login 403 ok 403 403",
    ("POST", "/calls/<int:call_id>/scores"): "login 403 ok 403 403",
    ("GET", "/cpv/search"): "ok ok ok ok ok",
    ("GET", "/groups"): "login ok ok ok 403",
    ("GET", "/impact/portfolio"): "login ok ok ok 403",
    ("GET", "/impact/portfolio/report"): "login ok ok ok 403",
    ("GET", "/groups/<int:group_id>"): "login ok ok ok/404 403",
    ("POST", "/groups/<int:group_id>/abandon"): "login 403 ok 403 403",
    ("GET", "/groups/<int:group_id>/calls/new"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/calls/new"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/confirm"): "login 403 403 ok/404 403",
    ("POST", "/groups/<int:group_id>/constitute"): "login 403 ok 403 403",
    ("GET", "/groups/<int:group_id>/convention"): "login ok ok ok/404 403",
    ("POST", "/groups/<int:group_id>/decline"): "login 403 403 ok/404 403",
    ("GET", "/groups/<int:group_id>/edit"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/edit"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/invite"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/lots"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/lots/<int:lot_id>/delete"): "login 403 ok 403 403",
    ("GET", "/groups/<int:group_id>/lots/<int:lot_id>/edit"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/lots/<int:lot_id>/edit"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/lots/suggested"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/propose"): "login 403 403 ok/404 403",
    ("POST", "/groups/<int:group_id>/request-signatures"): "login 403 ok 403 403",
    ("POST", "/groups/<int:group_id>/sign"): "login 403 403 ok/404 403",
    ("GET", "/groups/new"): "login 403 ok 403 403",
    ("POST", "/groups/new"): "login 403 ok 403 403",
    ("GET", "/health"): "ok ok ok ok ok",
    ("GET", "/ready"): "ok ok ok ok ok",
    ("GET", "/open-data/decp.json"): "login ok ok ok 403",
    ("GET", "/invitations/<token>"): "404 404 404 404 404",
    ("POST", "/invitations/<token>"): "404 404 404 404 404",
    ("GET", "/lang/<code>"): "ok ok ok ok ok",
    ("GET", "/login"): "ok ok ok ok ok",
    ("POST", "/login"): "ok ok ok ok ok",
    ("POST", "/logout"): "login login login login login",  # logging out ends on the login page
    ("GET", "/needs"): "login ok ok ok 403",
    ("GET", "/needs/<int:need_id>"): "login ok ok ok/404 403",
    ("POST", "/needs/<int:need_id>/delete"): "login 403 403 ok/404 403",
    ("GET", "/needs/<int:need_id>/edit"): "login 403 403 ok/404 403",
    ("POST", "/needs/<int:need_id>/edit"): "login 403 403 ok/404 403",
    ("POST", "/needs/<int:need_id>/status"): "login 403 403 ok/404 403",
    ("GET", "/needs/import"): "login 403 403 ok 403",
    ("POST", "/needs/import"): "login 403 403 ok 403",
    ("POST", "/needs/import/<token>/confirm"): "login 403 403 404 403",
    ("GET", "/needs/import/<token>/report.csv"): "login 403 403 404 403",
    ("GET", "/needs/import/template.csv"): "login 403 403 ok 403",
    ("GET", "/needs/new"): "login 403 403 ok 403",
    ("POST", "/needs/new"): "login 403 403 ok 403",
    ("GET", "/notifications"): "login ok ok ok ok",
    ("POST", "/notifications/<int:notification_id>/read"): "login ok/404 ok/404 ok/404 ok/404",
    ("POST", "/notifications/read-all"): "login ok ok ok ok",
    ("GET", "/overlaps"): "login ok ok ok 403",
    ("GET", "/overlaps/export.<fmt>"): "login ok ok ok 403",
    ("GET", "/register"): "ok ok ok ok ok",
    ("POST", "/register"): "ok ok ok ok ok",
    ("GET", "/register/confirm/<token>"): "404 404 404 404 404",
    ("POST", "/register/confirm/<token>"): "404 404 404 404 404",
    ("GET", "/register/sent"): "ok ok ok ok ok",
    ("GET", "/spend"): "login ok ok ok 403",
    ("GET", "/spend/emission-mapping"): "login ok 403 403 403",
    ("POST", "/spend/emission-mapping"): "login ok 403 403 403",
    ("GET", "/spend/export/<kind>.<fmt>"): "login ok ok ok 403",
    ("GET", "/spend/impact"): "login ok ok ok 403",
    ("GET", "/spend/imports"): "login ok ok ok 403",
    ("POST", "/spend/imports"): "login ok ok ok 403",
    ("GET", "/spend/imports/<int:import_id>/quarantine"): "login ok ok ok/404 403",
    ("GET", "/spend/imports/<int:import_id>/quarantine.csv"): "login ok ok ok/404 403",
    ("POST", "/spend/imports/<int:import_id>/rollback"): "login ok 403 403 403",
    ("POST", "/spend/imports/<token>/confirm"): "login 404 404 404 403",
    ("GET", "/spend/imports/<token>/report.csv"): "login 404 404 404 403",
    ("GET", "/spend/imports/template.csv"): "login ok ok ok 403",
    ("GET", "/spend/imports/jobs/<int:job_id>"): "login ok 404 ok/404 403",
    ("GET", "/spend/imports/jobs/<int:job_id>.json"): "login ok 404 ok/404 403",
}


def expected(role: str) -> dict[tuple[str, str], tuple[str, str]]:
    column = ROLES.index(role)
    cells = {}
    for operation, row in TABLE.items():
        cell = row.split()[column]
        own, _, other = cell.partition("/")
        cells[operation] = (own, other or own)
    return cells


def test_every_operation_of_the_url_map_is_in_the_table_and_only_those(app):
    """Deny by default: a new route (or a new method on one) fails here until its row says who may use it."""
    declared = set(TABLE)
    routed = {(method, rule.rule) for rule, method in operations(app)}
    assert sorted(routed - declared) == [], "routes missing from the access table"
    assert sorted(declared - routed) == [], "rows of the table for routes that no longer exist"
    assert all(len(row.split()) == len(ROLES) for row in TABLE.values())


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_each_role_as_the_table_says(app, session, new_client, role):
    world = build_world(session)
    session.commit()
    found = walk(app, world, role, new_client)
    wanted = expected(role)
    wrong = {
        f"{method} {rule}": {"expected": wanted[method, rule], "got": got}
        for (method, rule), got in found.items()
        if got != wanted[method, rule]
    }
    assert wrong == {}
    assert len(found) == len(TABLE)


# A call's reads by the state of the call: its page, its API document, its bids, its ranking, its OCDS package.
# Bids and ranking are sealed (403 bids_sealed) for everyone but the bidder until the deadline; a draft is not found
# by suppliers. The buyer is a member of the calls' groups.
CALL_READS = (
    "/calls/{}",
    "/api/v1/calls/{}",
    "/api/v1/calls/{}/bids",
    "/api/v1/calls/{}/ranking",
    "/api/v1/calls/{}/ocds",
)
CALL_STATES = {
    "draft": {
        "anonymous": "404 404 login login 404",
        "admin": "ok ok 403 403 ok",
        "coordinator": "ok ok 403 403 ok",
        "buyer": "ok ok 403 403 ok",
        "supplier": "404 404 404 403 404",
    },
    "published": {
        "anonymous": "ok ok login login ok",
        "admin": "ok ok 403 403 ok",
        "coordinator": "ok ok 403 403 ok",
        "buyer": "ok ok 403 403 ok",
        "supplier": "ok ok ok 403 ok",
    },
    "closed": {
        "anonymous": "ok ok login login ok",
        "admin": "ok ok ok ok ok",
        "coordinator": "ok ok ok ok ok",
        "buyer": "ok ok ok ok ok",
        "supplier": "ok ok ok 403 ok",
    },
    "awarded": {
        "anonymous": "ok ok login login ok",
        "admin": "ok ok ok ok ok",
        "coordinator": "ok ok ok ok ok",
        "buyer": "ok ok ok ok ok",
        "supplier": "ok ok ok 403 ok",
    },
}


def test_call_reads_answer_each_role_by_the_state_of_the_call(app, session, new_client):
    world = build_world(session)
    session.commit()
    wrong = {}
    for role in ROLES:
        reader = Session(new_client, role)
        for state, call_id in world.calls.items():
            got = " ".join(outcome(reader.send("GET", url.format(call_id), {})) for url in CALL_READS)
            if got != CALL_STATES[state][role]:
                wrong[role, state] = {"expected": CALL_STATES[state][role], "got": got}
    assert wrong == {}
