"""The bid receipt as a PDF (fpdf2): what was received, when, and its SHA-256, with the exact text hashed.

The PDF is a readable copy; the proof stays the JSON text, whose SHA-256 the PDF prints. The core PDF fonts need
no font file (the app works on a closed network) but know Latin-1 only: typographic signs are written with their
Latin-1 equivalents."""

from __future__ import annotations

from flask_babel import gettext as _

from app.calls.models import Bid, Call
from app.clock import PARIS
from app.i18n import instant, money

_LATIN1 = str.maketrans(
    {
        "€": "EUR",
        "\u202f": "\u00a0",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "—": "-",
        "–": "-",
        "…": "...",
        "œ": "oe",
        "Œ": "OE",
    }
)


def latin1(text: str) -> str:
    """The text in the core fonts' Latin-1, typographic signs replaced, anything else as '?'."""
    return str(text).translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def receipt_pdf(bid: Bid, call: Call) -> bytes:
    # fpdf (with PIL and its font tables) takes about a second to import on a loaded machine: imported when a
    # receipt is asked for, not by every process that builds the app (each `flask` command).
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(latin1(_("Bid receipt")))
    pdf.set_creator("Mutualis")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.multi_cell(0, 9, latin1(_("Bid receipt")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 11)
    lot = bid.lot
    rows = [
        (_("Call for tenders"), call.title),
        (_("Lot"), _("Lot %(number)d — %(title)s", number=lot.number, title=lot.title)),
        (_("Supplier"), f"{bid.supplier.name} - SIRET {bid.supplier.siret}"),
        (_("Amount excl. VAT"), money(bid.amount)),
        (_("Received (server time, UTC)"), bid.submitted_at.isoformat(timespec="microseconds")),
        (_("Received (Paris time)"), bid.submitted_at.astimezone(PARIS).isoformat(sep=" ", timespec="seconds")),
        (_("Deadline"), f"{instant(call.bid_deadline)} ({_('Paris time')})"),
        (_("SHA-256 fingerprint"), bid.receipt_sha256),
    ]
    if bid.withdrawn_at:
        rows.append((_("Withdrawn"), instant(bid.withdrawn_at)))
    pdf.ln(2)
    for label, value in rows:
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(60, 7, latin1(label))
        pdf.set_font("helvetica", "", 10)
        pdf.multi_cell(0, 7, latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("helvetica", "B", 11)
    pdf.multi_cell(0, 7, latin1(_("The exact content hashed")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    if bid.receipt_content is None:
        # A committee call before its opening: the content is sealed, even from the server (the bidder got the text
        # once, at submission).
        explanation = _(
            "The content is sealed until the opening committee opens the bids: keep the JSON receipt you downloaded "
            "when you submitted the bid."
        )
    else:
        explanation = _(
            "This text, byte for byte in UTF-8, is what was received; its SHA-256 is the fingerprint above. "
            "The JSON receipt holds exactly this text."
        )
    pdf.multi_cell(0, 5, latin1(explanation), new_x="LMARGIN", new_y="NEXT")
    if bid.receipt_content is not None:
        pdf.ln(2)
        pdf.set_font("courier", "", 8)
        pdf.multi_cell(0, 4, latin1(bid.receipt_content), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
