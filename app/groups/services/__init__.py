"""Pooled-purchase groups (groupements de commandes): forming, members' answers, signatures, lots, log.

Coordinators form and manage groups; each member organization's buyers answer for it (confirm with their needs,
or decline) and record its signature of the convention. Every change is written to the group's activity log.

One module per part of a group's life; each public name is re-exported here, so callers write
`from app.groups import services; services.form_group(...)`:

- access: who sees a group (`visible_groups`, `get_group`) and the role and status checks the others start with;
- events: the activity log, the version a change bumps, what the notifications say;
- forming: forming and editing a group, invitations, members' proposals, confirmations and refusals;
- convention: signatures of the convention, constitution, abandonment;
- summary: the figures (amounts, shares, procedures, timeline);
- lots: suggested lots, and creating, changing and deleting lots with the members' shares.
"""

from app.groups.services.access import GROUP_DETAILS, STATUS_LABELS, get_group, visible_groups
from app.groups.services.convention import abandon_group, constitute_group, request_signatures, sign_convention
from app.groups.services.events import events, record_event
from app.groups.services.forming import (
    COST_SHARING,
    EDITABLE_FIELDS,
    confirm_membership,
    decline_membership,
    form_group,
    groups_for_need,
    invite_organization,
    propose_need,
    update_group,
)
from app.groups.services.lots import LotSuggestion, LotValues, create_lot, delete_lot, get_lot, suggest_lots, update_lot
from app.groups.services.summary import GroupSummary, MemberFigures, procedure_unknown_reason, summarize

__all__ = [
    "COST_SHARING",
    "GROUP_DETAILS",
    "EDITABLE_FIELDS",
    "STATUS_LABELS",
    "GroupSummary",
    "LotSuggestion",
    "LotValues",
    "MemberFigures",
    "abandon_group",
    "confirm_membership",
    "constitute_group",
    "create_lot",
    "decline_membership",
    "delete_lot",
    "events",
    "form_group",
    "get_group",
    "get_lot",
    "groups_for_need",
    "invite_organization",
    "procedure_unknown_reason",
    "propose_need",
    "record_event",
    "request_signatures",
    "sign_convention",
    "suggest_lots",
    "summarize",
    "update_group",
    "update_lot",
    "visible_groups",
]
