"""Serialisation for the API (kept off the models)."""

from decimal import Decimal, InvalidOperation

from flask_babel import gettext
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate


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


# --- money ------------------------------------------------------------------------------------------------------


class Money(fields.Field):
    """Euros as a decimal string ("1234.56"); numbers are read through their text, never as binary floats."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else f"{Decimal(value):.2f}"

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError('Give the amount as a decimal string, for example "1234.56".')
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError("Not a valid amount.") from None
        if not amount.is_finite():
            raise ValidationError("Not a valid amount.")
        if amount != amount.quantize(Decimal("0.01")):
            raise ValidationError("Amounts have at most two decimals (cents).")
        return amount


NEED_STATUS_VALUES = ("draft", "submitted", "withdrawn", "grouped")


class NeedFields(Schema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    cpv_code = fields.String(metadata={"description": "8 digits, with or without the check digit: 09310000-5"})
    annual_amount_eur = Money(metadata={"description": "yearly amount in euros excluding VAT"})
    start_date = fields.Date(metadata={"description": "when the contract must start"})
    duration_months = fields.Integer(validate=validate.Range(min=1, max=120))
    renewal_count = fields.Integer(validate=validate.Range(min=0, max=10), metadata={"description": "0 to 10"})
    renewal_months = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=120),
        metadata={"description": "months per renewal; default: duration_months"},
    )
    options_amount_eur = Money(metadata={"description": "total of the options in euros excluding VAT; default 0.00"})
    description = fields.String(validate=validate.Length(max=5000))
    quantity = Money(allow_none=True)
    unit = fields.String(allow_none=True, validate=validate.Length(max=50))
    current_contract_end = fields.Date(allow_none=True, metadata={"description": "end of the current contract"})
    delivery_postcode = fields.String(allow_none=True)
    environmental_criterion = fields.Boolean()
    social_clause = fields.Boolean()
    short_supply_chain = fields.Boolean()
    sustainability_notes = fields.String(validate=validate.Length(max=2000))


class NeedCreate(NeedFields):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cpv_code = fields.String(required=True, metadata={"description": "8 digits, with or without the check digit"})
    annual_amount_eur = Money(required=True, metadata={"description": "yearly amount in euros excluding VAT"})
    start_date = fields.Date(required=True, metadata={"description": "when the contract must start"})
    duration_months = fields.Integer(required=True, validate=validate.Range(min=1, max=120))
    status = fields.String(load_default="draft", validate=validate.OneOf(("draft", "submitted")))


class NeedPatch(NeedFields):
    status = fields.String(validate=validate.OneOf(("draft", "submitted", "withdrawn")))
    version = fields.Integer(metadata={"description": "the version read; a stale one gives 409 stale_version"})


class NeedOut(Schema):
    id = fields.Integer()
    organization = fields.Function(lambda need: need.organization.code)
    title = fields.String()
    description = fields.String()
    cpv_code = fields.String()
    cpv_label = fields.Method("_cpv_label")
    annual_amount_eur = Money(attribute="annual_amount")
    total_amount_eur = Money(
        attribute="total_amount",
        metadata={"description": "annual × (duration + renewals × renewal months) / 12 + options, excluding VAT"},
    )
    start_date = fields.Date()
    duration_months = fields.Integer()
    renewal_count = fields.Integer()
    renewal_months = fields.Function(lambda need: need.renewal_months or need.duration_months)
    options_amount_eur = Money(attribute="options_amount")
    quantity = Money()
    unit = fields.String(allow_none=True)
    current_contract_end = fields.Date(allow_none=True)
    delivery_postcode = fields.String(allow_none=True)
    environmental_criterion = fields.Boolean()
    social_clause = fields.Boolean()
    short_supply_chain = fields.Boolean()
    sustainability_notes = fields.String()
    status = fields.String(validate=validate.OneOf(NEED_STATUS_VALUES))
    version = fields.Integer()
    created_at = fields.DateTime(format="iso")
    updated_at = fields.DateTime(format="iso")
    submitted_at = fields.DateTime(format="iso", allow_none=True)

    def _cpv_label(self, need) -> str:
        from app.i18n import current_language

        return need.cpv.label(current_language())


class NeedList(Schema):
    items = fields.List(fields.Nested(NeedOut))
    next = fields.String(allow_none=True)


class NeedQuery(Schema):
    organization = fields.String()
    cpv = fields.String(metadata={"description": "a CPV code or prefix at any level"})
    status = fields.String(validate=validate.OneOf(NEED_STATUS_VALUES))
    start_from = fields.Date()
    start_to = fields.Date()
    cursor = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ImportFile(Schema):
    file = Upload(required=True, metadata={"description": "CSV (; or ,) or XLSX, French or English headers"})


class ImportResult(Schema):
    imported = fields.Integer()


class ProcedureOut(Schema):
    code = fields.String(validate=validate.OneOf(("none", "adapted", "formal")))
    label = fields.Function(lambda procedure: gettext(procedure.label))
    no_competition_threshold_eur = Money(attribute="no_competition_threshold")
    formal_threshold_eur = Money(attribute="formal_threshold")
    rule_valid_from = fields.Date()
    nature = fields.String(metadata={"description": "supplies_services, works or social_services"})
    publication = fields.String(
        metadata={
            "description": "the notice required: none, suited (buyer's choice), boamp_or_jal (from 90 000 € HT) or joue"
        }
    )
    publication_label = fields.Function(lambda procedure: gettext(procedure.publication_label))
    publicity_threshold_eur = Money(attribute="publicity_threshold", allow_none=True)


class OverlapOut(Schema):
    cpv_prefix = fields.String()
    level = fields.String()
    label = fields.String()
    organizations = fields.List(fields.String())
    need_ids = fields.List(fields.Integer())
    annual_amount_eur = Money(attribute="annual_amount")
    total_amount_eur = Money(attribute="total_amount")
    procedure = fields.Nested(ProcedureOut)
    procedure_alone = fields.Dict(keys=fields.String(), values=fields.Nested(ProcedureOut))


class OverlapQuerySchema(Schema):
    level = fields.String(load_default="class", validate=validate.OneOf(("division", "group", "class", "category")))
    window_months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=60))
    from_ = fields.Date(data_key="from", load_default=None, metadata={"description": "window start, default today"})


class PossibleOverlapOut(Schema):
    cpv_prefix = fields.String()
    level = fields.String()
    label = fields.String()
    generic_code = fields.String(metadata={"description": "the generic code (e.g. 30000000) covering cpv_prefix"})
    organizations = fields.List(fields.String())
    need_ids = fields.List(fields.Integer(), metadata={"description": "needs with specific codes under it"})
    generic_need_ids = fields.List(fields.Integer(), metadata={"description": "needs filed under the generic code"})
    annual_amount_eur = Money(attribute="annual_amount", metadata={"description": "per year, excluding VAT"})
    total_amount_eur = Money(attribute="total_amount", metadata={"description": "total excluding VAT"})
    possible = fields.Boolean(metadata={"description": "always true: to be checked by a coordinator"})


class OverlapList(Schema):
    items = fields.List(fields.Nested(OverlapOut))
    possible = fields.List(
        fields.Nested(PossibleOverlapOut),
        metadata={"description": "possible overlaps: a generic code of one organization over specific codes"},
    )
    next = fields.String(allow_none=True)


# --- groups -------------------------------------------------------------------------------------------------


class GroupCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    need_ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1))
    coordinator_organization = fields.String(metadata={"description": "organization code; default the caller's"})
    scope_cpv_prefix = fields.String(allow_none=True)
    planned_publication_on = fields.Date(allow_none=True)


class GroupPatch(Schema):
    version = fields.Integer(required=True, metadata={"description": "the version read; stale → 409"})
    name = fields.String(validate=validate.Length(min=1, max=200))
    scope_cpv_prefix = fields.String(allow_none=True)
    planned_publication_on = fields.Date(allow_none=True)
    convention_duration_months = fields.Integer(validate=validate.Range(min=1, max=120))
    cost_sharing = fields.String(validate=validate.OneOf(("pro_rata", "equal", "coordinator")))
    execution_mode = fields.String(
        validate=validate.OneOf(("coordinator_signs", "each_member", "coordinator_for_all")),
        metadata={"description": "who signs and runs the contracts; a change voids the signatures"},
    )
    single_lot_reason = fields.String()


class Adjustment(Schema):
    annual_amount_eur = Money()
    quantity = Money(allow_none=True)


class ConfirmBody(Schema):
    need_ids = fields.List(fields.Integer(), metadata={"description": "needs brought; default those proposed"})
    adjustments = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(Adjustment),
        metadata={"description": "need id → adjusted yearly amount / quantity"},
    )


class DeclineBody(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class SignBody(Schema):
    """Every field is optional: an empty body (or none) records the signature dated today (Europe/Paris)."""

    signed_on = fields.Date(metadata={"description": "date of the deliberation or decision; default today (Paris)"})
    deliberation_reference = fields.String(
        validate=validate.Length(max=200), metadata={"description": "reference of the deliberation or decision"}
    )


class InviteBody(Schema):
    organization = fields.String(required=True)


class MemberOut(Schema):
    organization = fields.String()
    status = fields.String(validate=validate.OneOf(("invited", "confirmed", "declined", "signed")))
    need_ids = fields.List(fields.Integer())
    annual_amount_eur = Money()
    total_amount_eur = Money()
    share = fields.String(metadata={"description": "share of the group's total, 0 to 1"})
    decline_reason = fields.String()
    signed_on = fields.Date(allow_none=True)
    deliberation_reference = fields.String()


class LotShareInOut(Schema):
    organization = fields.String(required=True)
    annual_amount_eur = Money(required=True, metadata={"description": "yearly amount excluding VAT"})
    total_amount_eur = Money(
        dump_only=True, metadata={"description": "total estimated value excluding VAT, renewals and options included"}
    )
    quantity = Money(allow_none=True)


class LotBody(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cpv_code = fields.String(required=True)
    description = fields.String()
    delivery_area = fields.String()
    shares = fields.List(fields.Nested(LotShareInOut), required=True)


class LotPatch(LotBody):
    version = fields.Integer(required=True)


class LotOut(Schema):
    id = fields.Integer()
    number = fields.Integer()
    title = fields.String()
    cpv_code = fields.String()
    description = fields.String()
    delivery_area = fields.String()
    version = fields.Integer()
    estimated_amount_eur = Money(metadata={"description": "total estimated value excluding VAT (= total_amount_eur)"})
    annual_amount_eur = Money(metadata={"description": "per year, excluding VAT"})
    total_amount_eur = Money(metadata={"description": "total excluding VAT, renewals and options included"})
    shares = fields.List(fields.Nested(LotShareInOut))


class GroupOut(Schema):
    id = fields.Integer()
    name = fields.String()
    status = fields.String(validate=validate.OneOf(("forming", "constituted", "closed", "abandoned")))
    version = fields.Integer()
    scope_cpv_prefix = fields.String(allow_none=True)
    coordinator_organization = fields.String()
    planned_publication_on = fields.Date(allow_none=True)
    convention_duration_months = fields.Integer()
    cost_sharing = fields.String()
    execution_mode = fields.String()
    single_lot_reason = fields.String()
    members = fields.List(fields.Nested(MemberOut))
    annual_amount_eur = Money()
    total_amount_eur = Money()
    procedure = fields.Nested(ProcedureOut, allow_none=True)
    lots = fields.List(fields.Nested(LotOut))


class GroupList(Schema):
    items = fields.List(fields.Nested(GroupOut))
    next = fields.String(allow_none=True)


class EventOut(Schema):
    at = fields.DateTime(format="iso")
    actor = fields.String(attribute="actor_label")
    action = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


class EventList(Schema):
    items = fields.List(fields.Nested(EventOut))
    next = fields.String(allow_none=True)


# --- calls and bids ---------------------------------------------------------------------------------------------


class CallLotIn(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cpv_code = fields.String(required=True)
    estimated_amount_eur = Money(required=True)
    description = fields.String()


class CriterionIO(Schema):
    name = fields.String(
        required=True, validate=validate.OneOf(("price", "technical", "environmental", "delivery", "social"))
    )
    weight = fields.Integer(required=True)


class CallCreate(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="")
    questions_deadline = fields.AwareDateTime(required=True, metadata={"description": "ISO 8601 with offset"})
    bid_deadline = fields.AwareDateTime(required=True, metadata={"description": "ISO 8601 with offset"})
    lots = fields.List(
        fields.Nested(CallLotIn), load_default=list, metadata={"description": "default: one lot per lot of the group"}
    )
    criteria = fields.List(
        fields.Nested(CriterionIO), load_default=list, metadata={"description": "weights sum to 100 and include price"}
    )


class CallLotOut(Schema):
    id = fields.Integer()
    number = fields.Integer()
    title = fields.String()
    cpv_code = fields.String()
    estimated_amount_eur = Money(
        attribute="estimated_amount", metadata={"description": "total estimated value excluding VAT"}
    )
    annual_amount_eur = Money(attribute="annual_amount", allow_none=True, metadata={"description": "per year"})
    total_amount_eur = Money(attribute="total_amount", metadata={"description": "total excluding VAT"})
    description = fields.String()
    status = fields.String()


class DocumentOut(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    url = fields.String()


class AnswerOut(Schema):
    id = fields.Integer()
    question = fields.String(attribute="text")
    answer = fields.String()
    answered_at = fields.DateTime(format="iso")


class CallOut(Schema):
    id = fields.Integer()
    group_id = fields.Integer()
    title = fields.String()
    description = fields.String()
    status = fields.String(
        metadata={"description": "by the server clock: a published call past its deadline is closed"}
    )
    questions_deadline = fields.DateTime(format="iso")
    bid_deadline = fields.DateTime(format="iso")
    published_at = fields.DateTime(format="iso", allow_none=True)
    lots = fields.List(fields.Nested(CallLotOut))
    annual_amount_eur = Money(allow_none=True, metadata={"description": "sum of the lots per year, excluding VAT"})
    total_amount_eur = Money(metadata={"description": "sum of the lots' total estimated values, excluding VAT"})
    criteria = fields.List(fields.Nested(CriterionIO))
    documents = fields.List(fields.Nested(DocumentOut))
    answers = fields.List(fields.Nested(AnswerOut))
    warnings = fields.List(fields.String())


class CallList(Schema):
    items = fields.List(fields.Nested(CallOut))
    next = fields.String(allow_none=True)


class CallQuery(Schema):
    status = fields.String(
        validate=validate.OneOf(("draft", "published", "closed", "evaluated", "awarded", "cancelled", "unsuccessful"))
    )
    cpv = fields.String(metadata={"description": "CPV code or prefix of a lot"})


class QuestionIn(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class QuestionOut(Schema):
    id = fields.Integer()
    text = fields.String()
    asked_at = fields.DateTime(format="iso")
    answer = fields.String(allow_none=True)


class AnswerIn(Schema):
    answer = fields.String(required=True, validate=validate.Length(min=1, max=8000))


class BidIn(Schema):
    lot_id = fields.Integer(required=True)
    amount_eur = Money(required=True)
    technical_note = fields.String(load_default="")
    environmental_note = fields.String(load_default="")
    delivery_distance_km = Money(allow_none=True, load_default=None)


class BidReceipt(Schema):
    id = fields.Integer()
    submitted_at = fields.DateTime(format="iso")
    receipt_sha256 = fields.String()


class BidOut(Schema):
    id = fields.Integer()
    call_id = fields.Integer()
    lot_id = fields.Integer()
    supplier = fields.Function(lambda bid: bid.supplier.name)
    amount_eur = Money(attribute="amount")
    technical_note = fields.String()
    environmental_note = fields.String()
    delivery_distance_km = fields.Decimal(as_string=True, allow_none=True)
    status = fields.String()
    submitted_at = fields.DateTime(format="iso")
    receipt_sha256 = fields.String()
    receipt_content = fields.String()
    abnormally_low = fields.Boolean()


class BidList(Schema):
    items = fields.List(fields.Nested(BidOut))
    next = fields.String(allow_none=True)


class ScoreIn(Schema):
    bid_id = fields.Integer(required=True)
    scores = fields.Dict(keys=fields.String(), values=fields.Decimal(), required=True)


class RankedOut(Schema):
    bid_id = fields.Integer()
    supplier = fields.String()
    rank = fields.Integer()
    amount_eur = Money()
    points = fields.Dict(keys=fields.String(), values=fields.String())
    total = fields.String()
    complete = fields.Boolean()
    abnormally_low = fields.Boolean()


class LotRanking(Schema):
    lot_id = fields.Integer()
    number = fields.Integer()
    title = fields.String()
    status = fields.String()
    bids = fields.List(fields.Nested(RankedOut))


class RankingOut(Schema):
    items = fields.List(fields.Nested(LotRanking))
    next = fields.String(allow_none=True)


class AwardIn(Schema):
    lot_id = fields.Integer(required=True)
    bid_id = fields.Integer(required=True)


class ContractOut(Schema):
    organization = fields.Function(lambda c: c.organization.code)
    supplier = fields.Function(lambda c: c.supplier.name)
    amount_eur = Money(attribute="amount")
    share = fields.Decimal(as_string=True)


class AwardOut(Schema):
    id = fields.Integer()
    lot_id = fields.Integer()
    bid_id = fields.Integer()
    awarded_at = fields.DateTime(format="iso")
    contracts = fields.List(fields.Nested(ContractOut))
