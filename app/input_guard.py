"""Refuse, before any view runs, request text that no database column can store (NUL, lone UTF-16 surrogates),
naming the field: one check for every page form, query string and JSON body."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import lazy_gettext as _l

from app.domain.bounds import unstorable_text
from app.errors import ValidationFailed


def _unstorable_fields(value, path: str) -> list[str]:
    if isinstance(value, str):
        return [path] if unstorable_text(value) else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            found += [name] if isinstance(key, str) and unstorable_text(key) else _unstorable_fields(item, name)
        return found
    if isinstance(value, list):
        return [name for index, item in enumerate(value) for name in _unstorable_fields(item, f"{path}[{index}]")]
    return []


def _printable(name: str) -> str:
    return name.encode("unicode_escape").decode("ascii")


def check_request_text() -> None:
    fields: list[str] = []
    for source in (request.args, request.form):
        for key in source:
            name = key or ""  # a multipart part may have no name
            fields += [name] if unstorable_text(name) else _unstorable_fields(source.getlist(key), name)
    for key, upload in request.files.items(multi=True):
        name = key or ""
        fields += [name] if unstorable_text(name) or unstorable_text(upload.filename or "") else []
    if request.is_json:
        fields += _unstorable_fields(request.get_json(silent=True), "")
    if fields:
        message = _l("This text holds a character that cannot be stored (a NUL or an unpaired surrogate).")
        names = sorted({_printable(name.split("[")[0] if name.endswith("]") else name) for name in fields})
        raise ValidationFailed(
            {name: [str(message)] for name in names},
            message=str(_l("Field %(fields)s: %(message)s", fields=", ".join(names), message=message)),
        )


def register(app: Flask) -> None:
    app.before_request(check_request_text)
