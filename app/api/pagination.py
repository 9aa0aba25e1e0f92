"""Page-numbered lists of the API: `page` and `per_page` in the query, `next` the path of the following page."""

from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import request
from marshmallow import Schema, fields, validate

from app.extensions import db

PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000


class PageQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=PER_PAGE, validate=validate.Range(min=1, max=MAX_PER_PAGE))


def next_path(args: dict, more: bool) -> str | None:
    """The path of the page after the one `args` asked for (the other query arguments kept), or None."""
    if not more:
        return None
    query = {key: value for key, value in request.args.items() if key not in ("page", "per_page")}
    query.update(page=args["page"] + 1, per_page=args["per_page"])
    return f"{request.path}?{urlencode(query)}"


def page_of(stmt: sa.Select, args: dict, *, entities: bool = True) -> tuple[list, str | None]:
    """One page of the rows of `stmt` (which must have a total order) and the path of the next page: ORM entities,
    or with `entities=False` plain rows (aggregates). One row more than the page is read to know whether another
    page follows, so no count query is needed."""
    size = args["per_page"]
    paged = stmt.limit(size + 1).offset((args["page"] - 1) * size)
    rows = db.session.scalars(paged).unique().all() if entities else db.session.execute(paged).all()
    return list(rows[:size]), next_path(args, len(rows) > size)


def list_page(items: list, args: dict) -> tuple[list, str | None]:
    """One page of a list already computed (aggregates) and the path of the next page."""
    first = (args["page"] - 1) * args["per_page"]
    shown = items[first : first + args["per_page"]]
    return shown, next_path(args, len(items) > first + len(shown))
