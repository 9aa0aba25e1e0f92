"""Open data of the contracts awarded through Mutualis: the DECP 2.0.3 essential data (the OCDS package of each call
is served with the calls, at /calls/{id}/ocds)."""

from __future__ import annotations

from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require
from app.api.schemas import ErrorEnvelope
from app.calls import decp
from app.extensions import db

blp = Blueprint("api_open_data", __name__, description="Open data: essential data of the contracts awarded (DECP)")


class DecpQuery(Schema):
    year = fields.Integer(
        required=True,
        validate=validate.Range(min=2000, max=2200),
        metadata={"description": "the year of the award (Paris time)"},
    )
    organization = fields.String(
        load_default=None,
        metadata={"description": "organization code: its contracts only (coordinators and admins; buyers: their own)"},
    )


class DecpDocument(Schema):
    marches = fields.Dict(
        metadata={
            "description": 'the DECP 2.0.3 document: {"marche": [...]}, one marche per awarded lot, valid against the '
            "official schema schema_decp_v2.0.3.json"
        }
    )


@blp.get("/decp")
@require(*decp.READERS)
@blp.arguments(DecpQuery, location="query")
@blp.response(
    200,
    DecpDocument,
    headers={
        "X-Omitted-Lots": {
            "description": "awarded lots left out because their coordinating organization has no SIRET",
            "schema": {"type": "integer"},
        }
    },
)
@blp.alt_response(403, schema=ErrorEnvelope, description="forbidden: suppliers, or a buyer naming another organization")
def decp_document(args):
    """The essential data (DECP 2.0.3 JSON) of the lots awarded in a year: one marche per awarded lot, acheteur = the
    coordinating organization's SIRET, montant = the awarded total value excl. VAT, titulaires = the winner,
    offresRecues = the bids on the lot. Coordinators and admins read all; buyers their own organization's."""
    export = decp.decp_export(db.session, current_user, year=args["year"], organization=args["organization"])
    return export.document, 200, {"X-Omitted-Lots": str(export.omitted)}
