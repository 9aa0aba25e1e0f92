"""Answers of a request (API bodies, parts of pages) remembered until their data changes (app.freshness), keyed by the
request and its reader."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import Response, current_app, render_template, request
from flask_login import current_user
from markupsafe import Markup

from app import freshness
from app.extensions import db
from app.i18n import current_language

T = TypeVar("T")


def remembered(topics: tuple[str, ...], answer: Callable[[], T], *more_key: Hashable) -> T:
    """answer(), remembered until the data of `topics` changes: the key is the request's path and query, its
    language, who the reader is (what a reader may see depends on its role and organization) and `more_key` (what
    else the answer depends on, such as today's date). The answer must not be changed afterwards (tuples, not
    lists); an error it raises is not remembered."""
    key = (
        (current_user.role, current_user.organization_id),
        request.path,
        tuple(sorted(request.args.items(multi=True))),
        current_language(),
        *more_key,
    )
    return freshness.remembered(db.session, topics, key, answer)


def remembered_response(topics: tuple[str, ...], schema, answer: Callable[[], object], *more_key: Hashable) -> Response:
    """The JSON response of answer() dumped with `schema`, its body remembered as `remembered` remembers answers:
    a request answered from it neither computes nor serialises again (flask-smorest passes a Response through; the
    schema stays the one documented by the endpoint's @blp.response)."""
    body = remembered(topics, lambda: current_app.json.response(schema.dump(answer())).get_data(), *more_key)
    return current_app.response_class(body, mimetype="application/json")


def remembered_html(topics: tuple[str, ...], template: str, context: Callable[[], dict], *more_key: Hashable) -> Markup:
    """`template` rendered with context(), remembered as `remembered` remembers answers (per path, query, language
    and reader): a request answered from it neither reads the data nor renders again. For the part of a page that
    holds no form (a CSRF token is the session's)."""
    # render_template autoescapes: its output is safe HTML
    return remembered(topics, lambda: Markup(render_template(template, **context())), *more_key)  # noqa: S704
