"""The one action path of every POST view and API handler: parse → service → commit exactly once, or roll back and
map the error in one place.

- `run(action)` is the core: it runs the service call, flushes and commits once; on any exception it rolls back and
  re-raises, database-level conflicts turned into domain errors (app.errors.from_database). Side effects queued
  during the action (app.effects: mail, …) run after that commit, or never.
- `committed` wraps an API handler in `run`; its domain errors reach app.error_pages, which writes the envelope.
- `submit(form, action)` is the pages' side: validate the form, `run` the action, flash the success; a refusal puts
  the errors on the form's fields (or in an alert, app.forms.apply_errors) and gives the status the page answers
  with (app.errors: 400 invalid input, 404, 403, 409 …). Success is followed by a redirect (POST/redirect/GET).

Database-level conflicts are retried once on the current data. A row saved meanwhile at another `version` fails at
the flush (StaleDataError): the action runs again, so that a service which compares versions refuses with its own
conflict and the current values (the stale-edit screen, `details.current` in the API), while an action that took
no version simply applies to the current data. A unique constraint broken by a concurrent insert runs again too,
and the service then finds what the other request inserted (a duplicate import, an account that exists). A
conflict that persists is a 409 (stale_version, concurrent_change).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import flash
from flask_wtf import FlaskForm

from app.audit.hooks import record_refusal
from app.errors import Conflict, DomainError, ValidationFailed, from_database
from app.extensions import db
from app.forms import apply_errors

T = TypeVar("T")


def run(action: Callable[[], T], *, attempts: int = 2) -> T:
    """Run `action`, flush and commit once; roll back on any exception and re-raise it. A database-level conflict
    runs the action again on the current data (`attempts` times in all), then becomes its domain error."""
    session = db.session
    for attempt in range(1, attempts + 1):
        try:
            result = action()
            session.flush()
            session.commit()
        except Exception as error:
            session.rollback()
            if isinstance(error, DomainError) and error.audit is not None:
                record_refusal(error)
            mapped = None if isinstance(error, DomainError) else from_database(error)
            if mapped is None:
                raise
            if attempt < attempts and isinstance(mapped, Conflict):  # a concurrent change: try on the current data
                continue
            raise mapped from error
        return result
    raise AssertionError("unreachable: every attempt returns or raises")  # pragma: no cover


def committed(handler: Callable[..., T]) -> Callable[..., T]:
    """An API handler that changes data: its whole body runs through `run` (one commit, or a rollback)."""

    @wraps(handler)
    def wrapped(*args, **kwargs):
        return run(lambda: handler(*args, **kwargs))

    return wrapped


@dataclass
class Outcome:
    """What a page action came to: done (its `value` is what the action returned), not tried (a GET: status 200),
    or refused with the status the page answers with (`error`: the service's refusal; None when the form itself
    did not validate)."""

    done: bool = False
    value: Any = None
    error: DomainError | None = None
    status: int = 200

    def __bool__(self) -> bool:
        return self.done

    def refused(self, code: str) -> bool:
        return self.error is not None and self.error.code == code


def submit(
    form: FlaskForm | None,
    action: Callable[[], T],
    *,
    success: str | Callable[[T], str] | None = None,
    rename: Mapping[str, str] | Callable[[str], str] | None = None,
    shown_by_page: Collection[str] = (),
    attempts: int = 2,
) -> Outcome:
    """Validate `form` (none for a plain button), run `action` through `run`, flash `success` (a text, or a function
    of the action's result) once committed. A refusal is put on the form (`rename`: the service's keys → the form's
    field names) or in an alert, except the error codes in `shown_by_page` (a page with its own display of them).
    `attempts`: see `run`."""
    if form is not None:
        if not form.is_submitted():
            return Outcome()
        if not form.validate():
            return Outcome(status=ValidationFailed.status)
    try:
        value = run(action, attempts=attempts)
    except DomainError as error:
        if error.code not in shown_by_page:
            apply_errors(form, error, rename)
        return Outcome(error=error, status=error.status)
    if success is not None:
        flash(success(value) if callable(success) else success, "success")
    return Outcome(done=True, value=value)
