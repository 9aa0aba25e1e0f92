"""The French catalog covers every string of the code and templates, with the same placeholders."""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "app" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-.0-9]*[sdf]")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None}


def _catalog():
    with CATALOG.open("rb") as handle:
        return read_po(handle)


def test_every_entry_is_translated_and_keeps_its_placeholders():
    problems = []
    for message in _catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(("untranslated", ids[0]))
            continue
        for text in strings:
            if sorted(PLACEHOLDER.findall(text)) not in (sorted(PLACEHOLDER.findall(i)) for i in ids):
                problems.append(("placeholders", ids[0]))
    assert problems == []


def test_every_string_in_the_code_is_in_the_catalog():
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog() if m.id}
    method_map = [("app/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    missing = sorted(found - known)
    assert missing == [], "run ./scripts/i18n and translate: " + "; ".join(missing[:10])
