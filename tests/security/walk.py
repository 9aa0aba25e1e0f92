"""Walking the URL map as one role: fill each rule's path arguments from the world, send the request the way that
role would (a session with its CSRF token for pages, a bearer token for the API), and classify the answer."""

from __future__ import annotations

import re

from tests.conftest import api_token, csrf_from, login
from tests.security.world import DEMO_PASSWORD, EMAILS

CSRF_REFUSAL = re.compile(r"csrf_failed|jeton CSRF est manquant|CSRF token is missing")
ARGUMENT = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
SKIPPED_ENDPOINTS = {"static", "bootstrap.static"}

# What a role gets, as the table writes it.
OK = "ok"  # the request got past authorization: any answer but 401/403/404, a login redirect or a 5xx
LOGIN = "login"  # anonymous: pages redirect to the login page, the API answers 401
DENY = "403"
HIDE = "404"


class Session:
    """A role's two ways in: a browser session (cookie and CSRF token) for pages, a bearer token alone for the API."""

    def __init__(self, new_client, role: str):
        self.client, self.api, self.role = new_client(), new_client(), role
        self.headers: dict[str, str] = {}
        email = EMAILS[role]
        if email:
            assert login(self.client, email, DEMO_PASSWORD).status_code == 302, role
            self.headers = api_token(self.api, email, DEMO_PASSWORD)
            self.csrf = csrf_from(self.client.get("/account/password").get_data(as_text=True))
        else:
            self.csrf = csrf_from(self.client.get("/login").get_data(as_text=True))

    def send(self, method: str, url: str, form: dict):
        """The answer, read whole and closed (files are streamed from an open file)."""
        api = url.startswith("/api/")
        if method == "GET":
            response = (self.api if api else self.client).get(url, headers=self.headers)
        elif api:
            response = self.api.open(url, method=method, json=form, headers=self.headers)
        else:
            response = self.client.open(url, method=method, data={**form, "csrf_token": self.csrf})
        response.get_data()
        response.close()
        return response


def outcome(response) -> str:
    status = response.status_code
    if status >= 500:
        return f"5xx:{status}"
    if status == 401 or (status == 302 and response.headers["Location"].startswith("/login")):
        return LOGIN
    if status == 403:
        return DENY
    if status == 404:
        return HIDE
    if status == 400 and CSRF_REFUSAL.search(response.get_data(as_text=True)):
        return "csrf"  # never expected: the walk must test authorization, not the CSRF token
    return OK


def url_for_rule(rule, values: dict) -> str:
    return ARGUMENT.sub(lambda m: str(values[m.group(1)]), rule.rule)


def operations(app):
    """Every (rule, method) of the URL map but the static files."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


# Fields a request needs before its handler looks at anything else: without them it would be refused for its input
# alone (a 400 that says nothing of who may send it).
BODIES = {
    "spend.emission_mapping": {"division": "09", "category_key": "", "note": ""},
    "api_groups.decline": {"reason": "Pas de besoin cette année."},
    "api_contracts.create_order": {"amount_eur": "1.00", "description": "Commande"},
    "api_contracts.amend": {"amount_delta_eur": "1.00", "reason": "Avenant"},
    "api_contracts.evaluate": {"quality": 3, "delays": 3, "environmental": 3},
    "contracts.order": {"order-amount": "1,00", "order-description": "Commande"},
    "contracts.amend": {"amendment-amount_delta": "1,00", "amendment-reason": "Avenant"},
}
# Sent last, in this order: each ends the session or the token the walk uses.
SESSION_ENDING = ("api_tokens.revoke_current_token", "accounts.logout")


def _order(operation) -> tuple:
    rule, method = operation
    if rule.endpoint in SESSION_ENDING:
        return (3, SESSION_ENDING.index(rule.endpoint))
    if method == "DELETE" or rule.endpoint.split(".")[-1].startswith(("delete", "withdraw", "rollback", "abandon")):
        return (2, rule.rule, method)
    return (0 if method == "GET" else 1, rule.rule, method)


def walk(app, world, role: str, new_client) -> dict[tuple[str, str], tuple[str, str]]:
    """{(method, rule): (outcome on the role's own object, outcome on another's)} for every operation of the map.

    Reads come first, then changes, then deletes (which get spare objects of their own), then logging out."""
    from app.extensions import limiter

    session = Session(new_client, role)
    user = world.users.get(role)
    found = {}
    for rule, method in sorted(operations(app), key=_order):
        results = []
        for variant in ("own", "other"):
            values = {name: by_variant[variant] for name, by_variant in world.ids.items()}
            for name, by_variant in world.spares.get(rule.endpoint, {}).items():
                values[name] = by_variant[variant]
            if values["notification_id"] is None:  # the user's own notification (anonymous: someone's)
                values["notification_id"] = world.notification_of(user or world.users["admin"])
            limiter.reset()  # the walk tests who may do what, not how often
            response = session.send(method, url_for_rule(rule, values), BODIES.get(rule.endpoint, {}))
            results.append(outcome(response))
            if rule.endpoint in SESSION_ENDING:
                break  # the first request ended what the second would use
        found[method, rule.rule] = (results[0], results[-1])
    return found
