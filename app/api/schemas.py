"""Serialisation for the API (kept off the models).

Input fields carry the ranges of app.domain.bounds, so that the OpenAPI document states them and nothing out of range
reaches a service: amounts 0 to 999 999 999 999.99, dates 2000 to 2100, ids 1 to 2**63 - 1, texts as long as their
column."""

import threading
from decimal import Decimal, InvalidOperation

from cachetools import LRUCache
from flask import g
from flask_babel import get_locale, gettext
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate

from app.api.pagination import PageQuery
from app.domain.bounds import FIRST_DAY, LAST_DAY, MAX_AMOUNT, MAX_ID, MAX_INT, MAX_TEXT, amount_in_range, day_in_range

# --- bounded input fields ------------------------------------------------------------------------------------


def Id(**kwargs):  # noqa: N802 - a field factory, named like the fields it stands for
    """An id sent in a body: a BIGINT."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def Version(**kwargs):  # noqa: N802
    """The version a client read (optimistic locking)."""
    return fields.Integer(validate=validate.Range(min=0, max=MAX_INT), **kwargs)


def Text(max_length: int = MAX_TEXT, **kwargs):  # noqa: N802
    """A free text, at most as long as its column."""
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


_DAYS = f"between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"


class Day(fields.Date):
    """A date between 2000-01-01 and 2100-12-31 (the threshold table and the contracts' lifetimes)."""

    def __init__(self, **kwargs):
        metadata = kwargs.pop("metadata", {})
        description = metadata.get("description")
        metadata["description"] = f"{description}; {_DAYS}" if description else f"a date {_DAYS}"
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not day_in_range(day):
            raise ValidationError(f"Give a date {_DAYS}.")
        return day


class Instant(fields.AwareDateTime):
    """An ISO 8601 instant with its offset, in the same years as `Day`."""

    def _deserialize(self, value, attr, data, **kwargs):
        instant = super()._deserialize(value, attr, data, **kwargs)
        if not day_in_range(instant.date()):
            raise ValidationError(f"Give an instant {_DAYS}.")
        return instant


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
    q = Text(200, load_default="")
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


class DecimalString(fields.Decimal):
    """A decimal written as a string ("12.5"), so that no client reads it as a binary float; the OpenAPI document
    says string (see app.api.init_api)."""

    def __init__(self, **kwargs):
        super().__init__(as_string=True, **kwargs)


# --- money ------------------------------------------------------------------------------------------------------


class Money(fields.Field):
    """Euros as a decimal string ("1234.56"); numbers are read through their text, never as binary floats. What is
    read lies between 0 and 999 999 999 999.99 (NUMERIC(14, 2))."""

    def __init__(self, **kwargs):
        metadata = kwargs.pop("metadata", {})
        description = metadata.get("description")
        bounds = f"decimal string from 0.00 to {MAX_AMOUNT}"
        metadata["description"] = f"{description}; {bounds}" if description else bounds
        super().__init__(metadata=metadata, **kwargs)

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
        if not amount_in_range(amount):
            raise ValidationError(f"Give an amount from 0.00 to {MAX_AMOUNT}.")
        if amount != amount.quantize(Decimal("0.01")):
            raise ValidationError("Amounts have at most two decimals (cents).")
        return amount


NEED_STATUS_VALUES = ("draft", "submitted", "withdrawn", "grouped")


class NeedFields(Schema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    cpv_code = Text(12, metadata={"description": "8 digits, with or without the check digit: 09310000-5"})
    annual_amount_eur = Money(metadata={"description": "yearly amount in euros excluding VAT"})
    start_date = Day(metadata={"description": "when the contract must start"})
    duration_months = fields.Integer(validate=validate.Range(min=1, max=120))
    renewal_count = fields.Integer(validate=validate.Range(min=0, max=10), metadata={"description": "0 to 10"})
    renewal_months = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=120),
        metadata={"description": "months per renewal; default: duration_months"},
    )
    options_amount_eur = Money(metadata={"description": "total of the options in euros excluding VAT; default 0.00"})
    description = fields.String(validate=validate.Length(max=5000))
    quantity = Money(allow_none=True, metadata={"description": "per year, in `unit`"})
    unit = fields.String(
        allow_none=True,
        validate=validate.Length(max=50),
        metadata={
            "description": "kWh, MWh, GWh, L, m3, t or unit (mwh, m³, litres… are normalised); energy with a "
            "quantity in kWh/MWh/GWh or litres is estimated from physical emission factors; other text is kept"
        },
    )
    current_contract_end = Day(allow_none=True, metadata={"description": "end of the current contract"})
    delivery_postcode = Text(5, allow_none=True)
    environmental_criterion = fields.Boolean()
    social_clause = fields.Boolean()
    short_supply_chain = fields.Boolean()
    sustainability_notes = fields.String(validate=validate.Length(max=2000))


class NeedCreate(NeedFields):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cpv_code = Text(12, required=True, metadata={"description": "8 digits, with or without the check digit"})
    annual_amount_eur = Money(required=True, metadata={"description": "yearly amount in euros excluding VAT"})
    start_date = Day(required=True, metadata={"description": "when the contract must start"})
    duration_months = fields.Integer(required=True, validate=validate.Range(min=1, max=120))
    status = fields.String(load_default="draft", validate=validate.OneOf(("draft", "submitted")))


class NeedPatch(NeedFields):
    status = fields.String(validate=validate.OneOf(("draft", "submitted", "withdrawn")))
    version = Version(metadata={"description": "the version read; a stale one gives 409 stale_version"})


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
    organization = Text(20)
    cpv = Text(12, metadata={"description": "a CPV code or prefix at any level"})
    status = fields.String(validate=validate.OneOf(NEED_STATUS_VALUES))
    start_from = Day()
    start_to = Day()
    cursor = Text(200)
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


class Ids(fields.List):
    """A list of integer ids, dumped as the integers they are, without a field call per id (a page of overlaps
    lists thousands of need ids)."""

    def __init__(self, **kwargs):
        super().__init__(fields.Integer(), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else [int(v) for v in value]


class SharedNested(fields.Nested):
    """A nested value dumped once per distinct value and language, then reused: procedures repeat on every overlap
    (one per member), so a page of 50 overlaps has a thousand of them but a handful of distinct ones. Values must be
    hashable and immutable (frozen dataclasses)."""

    _dumped: LRUCache = LRUCache(maxsize=1024)
    _lock = threading.Lock()

    def _serialize(self, nested_obj, attr, obj, **kwargs):
        """Within a request the same object is found by identity first (no hash of its fields, no lookup of the
        language: a request answers in one language), kept with its dump so that its id is not reused."""
        if nested_obj is None:
            return None
        seen = g.setdefault("shared_nested", {})
        key = (id(nested_obj), type(self.schema))
        found = seen.get(key)
        if found is not None and found[0] is nested_obj:
            return found[1]
        dumped = self._shared(nested_obj, attr, obj, **kwargs)
        seen[key] = (nested_obj, dumped)
        return dumped

    def _shared(self, nested_obj, attr, obj, **kwargs):
        key = (type(self.schema).__name__, str(get_locale()), nested_obj)
        with self._lock:
            dumped = self._dumped.get(key)
        if dumped is None:
            dumped = super()._serialize(nested_obj, attr, obj, **kwargs)
            with self._lock:
                self._dumped[key] = dumped
        return dumped


class OverlapOut(Schema):
    cpv_prefix = fields.String()
    level = fields.String()
    label = fields.String()
    organizations = fields.List(fields.String())
    need_ids = Ids()
    annual_amount_eur = Money(attribute="annual_amount")
    total_amount_eur = Money(attribute="total_amount")
    procedure = SharedNested(ProcedureOut)
    procedure_alone = fields.Dict(keys=fields.String(), values=SharedNested(ProcedureOut))
    upcoming_renewals = fields.Integer(
        metadata={"description": "contracts of these organizations under this prefix ending within the window"}
    )
    impact = fields.Nested(
        "ImpactOut",
        allow_none=True,
        metadata={"description": "tCO2e per year with its range, method, sources, local share and savings"},
    )


class OverlapQuerySchema(PageQuery):
    level = fields.String(load_default="class", validate=validate.OneOf(("division", "group", "class", "category")))
    window_months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=60))
    from_ = Day(data_key="from", load_default=None, metadata={"description": "window start, default today"})


class PossibleOverlapOut(Schema):
    cpv_prefix = fields.String()
    level = fields.String()
    label = fields.String()
    generic_code = fields.String(metadata={"description": "the generic code (e.g. 30000000) covering cpv_prefix"})
    organizations = fields.List(fields.String())
    need_ids = fields.List(fields.Integer(), metadata={"description": "needs with specific codes under it"})
    generic_need_ids = Ids(metadata={"description": "needs filed under the generic code"})
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
    need_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=1000))
    coordinator_organization = Text(20, metadata={"description": "organization code; default the caller's"})
    scope_cpv_prefix = Text(8, allow_none=True)
    planned_publication_on = Day(allow_none=True)


class GroupPatch(Schema):
    version = Version(required=True, metadata={"description": "the version read; stale → 409"})
    name = fields.String(validate=validate.Length(min=1, max=200))
    scope_cpv_prefix = Text(8, allow_none=True)
    planned_publication_on = Day(allow_none=True)
    convention_duration_months = fields.Integer(validate=validate.Range(min=1, max=120))
    cost_sharing = fields.String(validate=validate.OneOf(("pro_rata", "equal", "coordinator")))
    execution_mode = fields.String(
        validate=validate.OneOf(("coordinator_signs", "each_member", "coordinator_for_all")),
        metadata={"description": "who signs and runs the contracts; a change voids the signatures"},
    )
    single_lot_reason = Text()


class Adjustment(Schema):
    annual_amount_eur = Money()
    quantity = Money(allow_none=True)


class ConfirmBody(Schema):
    need_ids = fields.List(
        Id(), validate=validate.Length(max=1000), metadata={"description": "needs brought; default those proposed"}
    )
    adjustments = fields.Dict(
        keys=Text(20),
        values=fields.Nested(Adjustment),
        metadata={"description": "need id → adjusted yearly amount / quantity"},
    )


class DeclineBody(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class SignBody(Schema):
    """Every field is optional: an empty body (or none) records the signature dated today (Europe/Paris)."""

    signed_on = Day(metadata={"description": "date of the deliberation or decision; default today (Paris)"})
    deliberation_reference = fields.String(
        validate=validate.Length(max=200), metadata={"description": "reference of the deliberation or decision"}
    )


class InviteBody(Schema):
    organization = Text(20, required=True)


class MemberOut(Schema):
    organization = fields.String()
    status = fields.String(validate=validate.OneOf(("invited", "confirmed", "declined", "signed")))
    need_ids = Ids()
    annual_amount_eur = Money()
    total_amount_eur = Money()
    share = fields.String(metadata={"description": "share of the group's total, 0 to 1"})
    decline_reason = fields.String()
    signed_on = fields.Date(allow_none=True)
    deliberation_reference = fields.String()


class LotShareInOut(Schema):
    organization = Text(20, required=True)
    annual_amount_eur = Money(required=True, metadata={"description": "yearly amount excluding VAT"})
    total_amount_eur = Money(
        dump_only=True, metadata={"description": "total estimated value excluding VAT, renewals and options included"}
    )
    quantity = Money(allow_none=True)


class LotBody(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cpv_code = Text(12, required=True)
    description = Text()
    delivery_area = Text(100)
    shares = fields.List(fields.Nested(LotShareInOut), required=True, validate=validate.Length(max=1000))


class LotPatch(LotBody):
    version = Version(required=True)


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
    procedure_unknown_reason = fields.String(
        allow_none=True,
        metadata={
            "description": "why `procedure` is null although needs are counted: a rule date before the thresholds"
        },
    )
    lots = fields.List(fields.Nested(LotOut))
    impact = fields.Nested("ImpactOut", allow_none=True)


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
    cpv_code = Text(12, required=True)
    estimated_amount_eur = Money(required=True)
    description = Text()


class CriterionIO(Schema):
    name = fields.String(
        required=True, validate=validate.OneOf(("price", "technical", "environmental", "delivery", "social"))
    )
    weight = fields.Integer(required=True, validate=validate.Range(min=0, max=100))


class CallCreate(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = Text(load_default="")
    questions_deadline = Instant(required=True, metadata={"description": "ISO 8601 with offset"})
    bid_deadline = Instant(required=True, metadata={"description": "ISO 8601 with offset"})
    lots = fields.List(
        fields.Nested(CallLotIn),
        load_default=list,
        validate=validate.Length(max=100),
        metadata={"description": "default: one lot per lot of the group"},
    )
    criteria = fields.List(
        fields.Nested(CriterionIO),
        load_default=list,
        validate=validate.Length(max=10),
        metadata={"description": "weights sum to 100 and include price"},
    )
    standstill_days = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, max=365),
        metadata={
            "description": "days from the award before the contracts may be signed; default 11 for formal "
            "procedures (a shorter period is a warning)"
        },
    )
    contract_kind = fields.String(
        load_default="contract",
        validate=validate.OneOf(("contract", "framework")),
        metadata={"description": "contract, or framework (accord-cadre à bons de commande, the award its maximum)"},
    )
    opening_committee = fields.List(
        fields.Email(validate=validate.Length(max=254)),
        validate=validate.Length(min=1, max=10),
        metadata={
            "description": "optional: three coordinators or buyers of member organizations, by account email, who "
            "open the bids after the deadline (without it the bids are opened automatically at the deadline)"
        },
    )
    opening_quorum = fields.Integer(
        validate=validate.Range(min=1, max=3), metadata={"description": "optional: members needed to open (2)"}
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


class AwardNoticeOut(Schema):
    lot_id = fields.Integer()
    number = fields.Integer()
    status = fields.String(metadata={"description": "awarded or unsuccessful"})
    supplier = fields.String(allow_none=True, metadata={"description": "the successful bidder"})
    amount_eur = Money(allow_none=True, metadata={"description": "the awarded amount, whole contract, excluding VAT"})
    awarded_at = fields.DateTime(format="iso", allow_none=True)


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
    awards = fields.List(
        fields.Nested(AwardNoticeOut),
        metadata={"description": "the award notice of each decided lot: the winner's name and amount, nothing else"},
    )
    warnings = fields.List(fields.String())
    standstill_days = fields.Integer(allow_none=True)
    contract_kind = fields.String()
    opening_quorum = fields.Integer(
        allow_none=True, metadata={"description": "members of the opening committee needed; null: no committee"}
    )
    bids_opened = fields.Boolean(metadata={"description": "whether the bids are opened (decrypted)"})
    impact = fields.Nested("ImpactOut", allow_none=True)


class CallList(Schema):
    items = fields.List(fields.Nested(CallOut))
    next = fields.String(allow_none=True)


class CallQuery(PageQuery):
    status = fields.String(
        validate=validate.OneOf(("draft", "published", "closed", "evaluated", "awarded", "cancelled", "unsuccessful"))
    )
    cpv = Text(12, metadata={"description": "CPV code or prefix of a lot"})


class QuestionIn(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class QuestionOut(Schema):
    id = fields.Integer()
    text = fields.String()
    asked_at = fields.DateTime(format="iso")
    answer = fields.String(allow_none=True)


class AnswerIn(Schema):
    answer = fields.String(required=True, validate=validate.Length(min=1, max=8000))


class BidDocumentIn(Schema):
    kind = fields.String(
        required=True, validate=validate.OneOf(("technical_proposal", "price_schedule", "declaration"))
    )
    filename = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content_base64 = fields.String(
        required=True,
        validate=validate.Length(max=14 * 1024 * 1024),
        metadata={
            "description": "the file in base64: technical proposal PDF/ODT/DOCX, price schedule XLSX, "
            "declaration (DC1/DC2, DUME/ESPD) PDF/ODT/DOCX/XML; 10 MB each, 12 MB together"
        },
    )


class BidIn(Schema):
    lot_id = Id(required=True)
    amount_eur = Money(required=True)
    technical_note = Text(load_default="")
    environmental_note = Text(load_default="")
    delivery_distance_km = Money(allow_none=True, load_default=None)
    documents = fields.List(fields.Nested(BidDocumentIn), load_default=list, validate=validate.Length(max=10))


class BidReceipt(Schema):
    id = fields.Integer()
    submitted_at = fields.DateTime(format="iso")
    receipt_sha256 = fields.String()
    receipt_content = fields.String(
        allow_none=True,
        metadata={
            "description": "the exact text hashed: keep it, a call with an opening committee cannot show it "
            "again before the opening"
        },
    )


class BidDocumentOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    filename = fields.String(allow_none=True)
    content_type = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)


class PassphraseIn(Schema):
    passphrase = fields.String(required=True, validate=validate.Length(max=1024))


class EnrolmentOut(Schema):
    call_id = fields.Integer()
    position = fields.Integer()
    enrolled_at = fields.DateTime(format="iso")


class OpeningOut(Schema):
    opened = fields.Boolean()
    given = fields.Integer(metadata={"description": "members who gave their passphrase"})
    quorum = fields.Integer()
    opening_record = fields.String(allow_none=True, metadata={"description": "path of the opening record"})


class BidOut(Schema):
    id = fields.Integer()
    call_id = fields.Integer()
    lot_id = fields.Integer()
    supplier = fields.String()
    amount_eur = Money(
        allow_none=True,
        metadata={"description": "excluding VAT; null while sealed (a call with a committee, before its opening)"},
    )
    technical_note = fields.String()
    environmental_note = fields.String()
    delivery_distance_km = DecimalString(allow_none=True)
    status = fields.String(
        metadata={
            "description": "active, replaced or withdrawn; once the lot is decided, an active bid is awarded or "
            "unsuccessful"
        }
    )
    submitted_at = fields.DateTime(format="iso")
    receipt_sha256 = fields.String()
    receipt_content = fields.String(allow_none=True)
    abnormally_low = fields.Boolean()
    rank = fields.Integer(allow_none=True, metadata={"description": "1 = best, once the lot is decided"})
    ranked_bids = fields.Integer(allow_none=True, metadata={"description": "how many offers were ranked on the lot"})
    scores = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "criterion → score from 0 to 100 given by the evaluators (price is computed)"},
    )
    points = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "criterion → weighted points, once the lot is decided"},
    )
    total_points = fields.String(allow_none=True, metadata={"description": "out of 100, once the lot is decided"})
    reasons = fields.List(fields.String(), metadata={"description": "why the bid was not retained"})
    documents = fields.List(fields.Nested(BidDocumentOut))


class BidList(Schema):
    items = fields.List(fields.Nested(BidOut))
    next = fields.String(allow_none=True)


class ScoreIn(Schema):
    bid_id = Id(required=True)
    scores = fields.Dict(
        keys=Text(20),
        values=fields.Decimal(
            validate=validate.Range(min=Decimal(0), max=Decimal(100)), metadata={"minimum": 0, "maximum": 100}
        ),
        required=True,
        metadata={"description": "criterion → score from 0 to 100"},
    )


class SupplierRecordOut(Schema):
    count = fields.Integer(metadata={"description": "members who evaluated the supplier after earlier contracts"})
    quality = DecimalString()
    delays = DecimalString()
    environmental = DecimalString()


class RankedOut(Schema):
    bid_id = fields.Integer()
    supplier = fields.String()
    supplier_evaluation = fields.Nested(
        SupplierRecordOut, allow_none=True, metadata={"description": "coordinators only: averages from 1 to 5"}
    )
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
    lot_id = Id(required=True)
    bid_id = Id(required=True)


class ContractOut(Schema):
    organization = fields.Function(lambda c: c.organization.code)
    supplier = fields.Function(lambda c: c.supplier.name)
    amount_eur = Money(attribute="amount")
    share = DecimalString()


class AwardOut(Schema):
    id = fields.Integer()
    lot_id = fields.Integer()
    bid_id = fields.Integer()
    awarded_at = fields.DateTime(format="iso")
    contracts = fields.List(fields.Nested(ContractOut))


# --- audit trail --------------------------------------------------------------------------------------------------


class DateOrDateTime(fields.Field):
    """An ISO 8601 date ("2026-11-29": the whole day in Paris) or date-time ("2026-11-29T14:00:00Z")."""

    def _deserialize(self, value, attr, data, **kwargs):
        from datetime import date, datetime

        text = str(value).strip()
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text else date.fromisoformat(text)
        except ValueError:
            raise ValidationError("A date (2026-11-29) or a date-time (2026-11-29T14:00:00Z).") from None


class AuditQuery(Schema):
    since = DateOrDateTime(metadata={"description": "from this date (Europe/Paris) or instant, included"})
    until = DateOrDateTime(metadata={"description": "to this date (Europe/Paris) or instant, included"})
    kind = fields.String(metadata={"description": "an event kind, e.g. login.failed, bid.submitted"})
    actor = fields.String(validate=validate.Length(max=254), metadata={"description": "a user id or email"})
    organization = fields.Integer(
        validate=validate.Range(min=1, max=2**53 - 1), metadata={"description": "the actor's organization id"}
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))


class AuditEventOut(Schema):
    id = fields.Integer()
    position = fields.Integer(metadata={"description": "order in the hash chain"})
    occurred_at = fields.DateTime(format="iso")
    kind = fields.String()
    actor_id = fields.Integer(allow_none=True, metadata={"description": "null: the system (command line, scheduler)"})
    actor_email = fields.String(allow_none=True)
    organization_id = fields.Integer(allow_none=True)
    object_type = fields.String(allow_none=True)
    object_id = fields.Integer(allow_none=True)
    details = fields.Dict(metadata={"description": "ids, lots, receipt hashes: never an amount"})
    address = fields.String(allow_none=True)
    previous_hash = fields.String()
    entry_hash = fields.String()


class AuditList(Schema):
    items = fields.List(fields.Nested(AuditEventOut))
    page = fields.Integer()
    pages = fields.Integer()
    total = fields.Integer()


# --- contracts after the award ------------------------------------------------------------------------------------

CONTRACT_STATUSES = ("standstill", "to_sign", "signed", "running", "ended")


class SignedMoney(Money):
    """Euros as a decimal string that may be negative (a decrease), from -999 999 999 999.99 to the same above."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip() if isinstance(value, str | int | float) and not isinstance(value, bool) else value
        negative = isinstance(text, str) and text.startswith("-")
        amount = super()._deserialize(text[1:] if negative else value, attr, data, **kwargs)
        return -amount if negative else amount


class ContractQuery(PageQuery):
    organization = Text(20, metadata={"description": "organization code"})
    status = fields.String(validate=validate.OneOf(CONTRACT_STATUSES))


class ContractItem(Schema):
    id = fields.Integer()
    call_id = fields.Integer()
    lot_id = fields.Integer()
    title = fields.String()
    cpv_code = fields.String()
    organization = fields.String(metadata={"description": "code of the member organization"})
    supplier = fields.String(metadata={"description": "the holder's name"})
    supplier_siret = fields.String()
    amount_eur = Money(metadata={"description": "the contract's total value today (amendments included), excl. VAT"})
    initial_amount_eur = Money(metadata={"description": "the member's share of the awarded total value, excl. VAT"})
    share = DecimalString()
    starts_on = fields.Date()
    ends_on = fields.Date()
    kind = fields.String(metadata={"description": "contract|framework"})
    ceiling_eur = Money(allow_none=True, metadata={"description": "a framework agreement's maximum (total, HT)"})
    ordered_eur = Money(metadata={"description": "total of the orders, excl. VAT"})
    consumption_pct = DecimalString(allow_none=True)
    status = fields.String(metadata={"description": "standstill|to_sign|signed|running|ended"})
    standstill_ends_on = fields.Date(allow_none=True)
    signed_on = fields.Date(allow_none=True)
    cumulative_change_pct = DecimalString()


class ContractList(Schema):
    items = fields.List(fields.Nested(ContractItem))
    next = fields.String(allow_none=True)


class OrderIn(Schema):
    amount_eur = Money(required=True)
    description = fields.String(required=True, validate=validate.Length(min=1, max=500))
    ordered_on = Day(load_default=None)


class OrderOut(Schema):
    id = fields.Integer()
    contract_id = fields.Integer()
    amount_eur = Money(attribute="amount")
    description = fields.String()
    ordered_on = fields.Date()
    ordered_eur = Money(metadata={"description": "the contract's orders in total after this one"})
    ceiling_eur = Money(allow_none=True)


class OrderList(Schema):
    items = fields.List(fields.Nested(OrderOut))
    next = fields.String(allow_none=True)


class SignIn(Schema):
    signed_on = Day(load_default=None)


class AmendmentIn(Schema):
    amount_delta_eur = SignedMoney(required=True)
    months_delta = fields.Integer(load_default=0, validate=validate.Range(min=-120, max=120))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    signed_on = Day(load_default=None)


class AmendmentOut(Schema):
    id = fields.Integer()
    contract_id = fields.Integer()
    number = fields.Integer()
    amount_delta_eur = Money(attribute="amount_delta")
    months_delta = fields.Integer()
    reason = fields.String()
    signed_on = fields.Date()
    cumulative_change_pct = DecimalString()
    warnings = fields.List(fields.String())
    amount_eur = Money(metadata={"description": "the contract's value after the amendment, excl. VAT"})
    ends_on = fields.Date()


class EvaluationIn(Schema):
    quality = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    delays = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    environmental = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    comment = Text(4000, load_default="")


class EvaluationOut(Schema):
    contract_id = fields.Integer()
    quality = fields.Integer()
    delays = fields.Integer()
    environmental = fields.Integer()
    comment = fields.String()
    evaluated_at = fields.DateTime(format="iso")


class ContractOutFull(ContractItem):
    orders = fields.List(fields.Nested(OrderOut))
    amendments = fields.List(fields.Nested(AmendmentOut))
    evaluation = fields.Nested(EvaluationOut, allow_none=True)
    warnings = fields.List(fields.String())


class ExpiringQuery(PageQuery):
    within_months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=120))
    organization = Text(20, metadata={"description": "organization code"})
    cpv = Text(12, metadata={"description": "CPV code or prefix"})


class RenewalNeedOut(Schema):
    title = fields.String()
    cpv_code = fields.String()
    annual_amount_eur = Money(metadata={"description": "per year, excl. VAT"})
    start_date = fields.Date()
    duration_months = fields.Integer()
    current_contract_end = fields.Date()
    delivery_postcode = fields.String(allow_none=True)
    description = fields.String()


class ExpiringItem(ContractItem):
    renewal_need = fields.Nested(RenewalNeedOut)
    procedure = fields.String(metadata={"description": "none|adapted|formal, for the renewal's value"})
    next_contract_starts_on = fields.Date()
    procedure_start_by = fields.Date(metadata={"description": "the day the next procedure must start"})
    late = fields.Boolean()


class ExpiringList(Schema):
    items = fields.List(fields.Nested(ExpiringItem))
    next = fields.String(allow_none=True)


# --- impact -----------------------------------------------------------------------------------------------------


class SavingsAssumptionOut(Schema):
    low_rate = DecimalString()
    high_rate = DecimalString()
    rationale = fields.String()


class ImpactOut(Schema):
    tco2e = DecimalString(metadata={"description": "tonnes of CO2e per year of purchases (estimate)"})
    tco2e_low = DecimalString(metadata={"description": "low end of the range, tCO2e per year"})
    tco2e_high = DecimalString(metadata={"description": "high end of the range, tCO2e per year"})
    method = fields.String(validate=validate.OneOf(("physical", "monetary", "mixed", "none")))
    sources = fields.List(fields.String())
    local_share_pct = DecimalString(
        allow_none=True,
        metadata={"description": "share (0-100) of the located amount inside Dijon Métropole; null when unknown"},
    )
    local_share_uncertain_pct = DecimalString(
        allow_none=True,
        metadata={"description": "share at a postcode shared with communes outside the metropole, commune unknown"},
    )
    local_share_basis = fields.String(
        allow_none=True, metadata={"description": "past_spend (members, this category) or awarded_suppliers"}
    )
    coverage_pct = DecimalString(
        allow_none=True, metadata={"description": "share of the yearly amount that has a carbon estimate"}
    )
    savings_low_eur = Money(metadata={"description": "per year, excluding VAT"})
    savings_high_eur = Money(metadata={"description": "per year, excluding VAT"})
    savings_assumption = fields.Nested(SavingsAssumptionOut)


class PortfolioQuery(Schema):
    year = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1990, max=2200),
        metadata={"description": "year of the past spend behind the local shares; default all years"},
    )


class PortfolioGroupOut(Schema):
    id = fields.Integer()
    name = fields.String()
    stage = fields.String(validate=validate.OneOf(("forming", "constituted", "awarded")))
    organizations = fields.List(fields.String())
    annual_amount_eur = Money(metadata={"description": "per year, excluding VAT"})
    total_amount_eur = Money(metadata={"description": "total estimated value, excluding VAT"})
    procedure = fields.Nested(ProcedureOut, allow_none=True)
    impact = fields.Nested(ImpactOut)


class PortfolioTotalsOut(Schema):
    groups = fields.Integer()
    annual_amount_eur = Money()
    total_amount_eur = Money()
    tco2e = DecimalString()
    tco2e_low = DecimalString()
    tco2e_high = DecimalString()
    method = fields.String()
    savings_low_eur = Money()
    savings_high_eur = Money()
    local_share_pct = DecimalString(allow_none=True)
    local_share_uncertain_pct = DecimalString(allow_none=True)


class PortfolioOut(Schema):
    year = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(PortfolioGroupOut))
    totals = fields.Nested(PortfolioTotalsOut)
    sources = fields.List(fields.String())
    caveats = fields.List(fields.String())
