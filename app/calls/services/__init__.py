"""Pooled calls for tenders and sealed bids.

The bid deadline is enforced in every request with the server clock (`utcnow()`): a stopped scheduler can delay
a notification, never let a late bid in. Before the deadline nobody but the bidder learns anything about any bid:
no page, API answer, export, notification or log line says whether bids exist.

One module per part of a call's life; each public name is re-exported here, so callers write
`from app.calls import services; services.submit_bid(...)`:

- access: who sees a call (`visible_calls`, `get_call`) and the role checks the other modules start with;
- calls: preparing, publishing and cancelling a call, its documents;
- matching: the suppliers a call concerns (trades, subscriptions, locality) and the calls a supplier sees;
- questions: suppliers' questions and the public answers;
- bids: submitting, reading, withdrawing and listing sealed bids, and when they are unsealed;
- deadlines: the status by the clock, closing at the deadline, reminders, short-period warnings;
- evaluation: scores, ranking, award (one contract per member), unsuccessful lots;
- outcomes: what each bidder learns of its own bid once its lot is decided, the letter to unsuccessful bidders, the
  supplier's bids and contracts, the public award notices.
"""

from app.calls.services.access import get_call, visible_calls
from app.calls.services.bids import BidValues, DocumentInput, get_bid, list_bids, submit_bid, withdraw_bid
from app.calls.services.calls import (
    ALLOWED_DOCUMENTS,
    MAX_DOCUMENT_BYTES,
    CallValues,
    LotInput,
    add_document,
    cancel_call,
    create_call,
    document_file,
    publish_call,
)
from app.calls.services.deadlines import (
    MINIMUM_BID_DAYS,
    REMINDER_BEFORE_DEADLINE,
    close_due_calls,
    closing_due,
    deadline_warnings,
    effective_status,
    effective_status_column,
    ensure_closed,
    send_bid_reminders,
    send_question_reminders,
)
from app.calls.services.evaluation import (
    award_lot,
    contracts_of,
    declare_unsuccessful,
    ranking,
    score_bid,
    score_lot,
)
from app.calls.services.matching import (
    REGION_DEPARTEMENTS,
    locality_label,
    matching_calls,
    matching_suppliers,
    matching_suppliers_query,
    subscribe,
    subscriptions,
    unsubscribe,
)
from app.calls.services.outcomes import (
    AwardNotice,
    Letter,
    SupplierBids,
    award_notices,
    bid_outcomes,
    reason_texts,
    rejection_letter,
    supplier_bids,
)
from app.calls.services.questions import answer_question, ask_question, own_questions, public_answers

__all__ = [
    "AwardNotice",
    "Letter",
    "SupplierBids",
    "award_notices",
    "bid_outcomes",
    "reason_texts",
    "rejection_letter",
    "supplier_bids",
    "ALLOWED_DOCUMENTS",
    "MAX_DOCUMENT_BYTES",
    "MINIMUM_BID_DAYS",
    "REGION_DEPARTEMENTS",
    "REMINDER_BEFORE_DEADLINE",
    "BidValues",
    "CallValues",
    "DocumentInput",
    "LotInput",
    "add_document",
    "answer_question",
    "ask_question",
    "award_lot",
    "cancel_call",
    "close_due_calls",
    "closing_due",
    "contracts_of",
    "create_call",
    "deadline_warnings",
    "declare_unsuccessful",
    "document_file",
    "effective_status",
    "effective_status_column",
    "ensure_closed",
    "get_bid",
    "get_call",
    "list_bids",
    "locality_label",
    "matching_calls",
    "matching_suppliers",
    "matching_suppliers_query",
    "own_questions",
    "public_answers",
    "publish_call",
    "ranking",
    "score_bid",
    "score_lot",
    "send_bid_reminders",
    "send_question_reminders",
    "submit_bid",
    "subscribe",
    "subscriptions",
    "unsubscribe",
    "visible_calls",
    "withdraw_bid",
]
