"""Validators of the open-data exports against the official schemas kept in tests/data, offline."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft4Validator, Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

DATA = Path(__file__).resolve().parent / "data"


@cache
def _ocds_validator() -> Draft4Validator:
    """The OCDS 1.1.5 release-package schema, with the release schema it refers to resolved locally."""
    folder = DATA / "ocds-1.1.5"
    release_schema = json.loads((folder / "release-schema.json").read_text(encoding="utf-8"))
    registry = Registry().with_resource(
        release_schema["id"], Resource.from_contents(release_schema, default_specification=DRAFT4)
    )
    package_schema = json.loads((folder / "release-package-schema.json").read_text(encoding="utf-8"))
    return Draft4Validator(package_schema, registry=registry, format_checker=FormatChecker())


@cache
def _decp_validator() -> Draft7Validator:
    schema = json.loads((DATA / "decp-2.0.3" / "schema_decp_v2.0.3.json").read_text(encoding="utf-8"))
    return Draft7Validator(schema, format_checker=FormatChecker())


def _messages(validator, document) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def ocds_errors(package: dict) -> list[str]:
    """Every way `package` breaks the OCDS 1.1.5 release-package schema (empty: valid)."""
    return _messages(_ocds_validator(), package)


def decp_errors(document: dict) -> list[str]:
    """Every way `document` breaks the DECP 2.0.3 schema (empty: valid)."""
    return _messages(_decp_validator(), document)
