"""Serialisation for the API (kept off the models)."""

from marshmallow import Schema, fields, validate


class ErrorDetail(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class ErrorEnvelope(Schema):
    error = fields.Nested(ErrorDetail, required=True)


class TokenRequest(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class TokenResponse(Schema):
    token = fields.String(required=True)
    expires_at = fields.DateTime(required=True, format="iso")


class CpvQuery(Schema):
    q = fields.String(load_default="")
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=50))


class CpvItem(Schema):
    code = fields.String(required=True)
    check_digit = fields.String(required=True)
    label = fields.String(required=True)
    level = fields.String(required=True)


class CpvList(Schema):
    items = fields.List(fields.Nested(CpvItem))
    next = fields.String(allow_none=True)


class OrganizationItem(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)


class OrganizationList(Schema):
    items = fields.List(fields.Nested(OrganizationItem))
    next = fields.String(allow_none=True)
