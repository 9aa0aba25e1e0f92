"""Pages of the HTML lists: the page number read from the query string, and lists already aggregated in memory
paged like database queries (the same Pagination object, so one template macro shows both)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from flask import request
from flask_sqlalchemy.pagination import Pagination

from app.extensions import db

PER_PAGE = 50
MAX_PAGE = 1_000_000  # a larger number would overflow the database's OFFSET


def page_number(name: str = "page") -> int:
    """The page asked for in the query string: a whole number from 1 (anything else reads as 1)."""
    return min(max(request.args.get(name, 1, type=int) or 1, 1), MAX_PAGE)


def paginate(stmt: sa.Select, page: int, per_page: int = PER_PAGE) -> Pagination:
    """One page of a query's rows and their count (two statements, whatever the number of rows)."""
    return db.paginate(stmt, page=page, per_page=per_page, max_per_page=per_page, error_out=False)


class ListPagination(Pagination):
    """A page of a sequence already in memory (aggregates computed for the whole list, such as overlaps)."""

    def _query_items(self) -> list:
        start = (self.page - 1) * self.per_page
        return list(self._query_args["items"][start : start + self.per_page])

    def _query_count(self) -> int:
        return len(self._query_args["items"])


def paginate_list(items: Sequence, page: int, per_page: int = PER_PAGE) -> ListPagination:
    """A page of `items`; a page past the end shows the last one."""
    page = min(page, max(-(-len(items) // per_page), 1))
    return ListPagination(page=page, per_page=per_page, max_per_page=per_page, error_out=False, items=items)
