"""Language selection and locale-aware formatting (amounts, dates, instants shown in Europe/Paris)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import get_datetime_format
from babel.numbers import NumberPattern, parse_pattern
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import format_date, format_datetime, format_decimal, format_time, get_locale, get_timezone
from flask_babel import gettext as _


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    return str(get_locale() or "fr").split("_")[0]


def money(amount: Decimal | int | str | None, digits: bool = True) -> str:
    """'1 234 567,89 €' in French, '€1,234,567.89' in English."""
    return _money_text(get_locale() or "fr", amount, digits)


def _money_text(locale: Locale | str, amount: Decimal | int | str | None, digits: bool) -> str:
    if amount is None or amount == "":
        return "—"
    return _money(locale, amount if isinstance(amount, Decimal) else Decimal(str(amount)), digits)


@lru_cache(maxsize=8)
def _currency_pattern(locale: Locale | str, digits: bool) -> tuple[Locale, NumberPattern]:
    """The locale's currency pattern parsed once (Babel parses it again on every call otherwise)."""
    parsed = Locale.parse(locale)
    if digits:
        return parsed, parsed.currency_formats["standard"]
    return parsed, parse_pattern("#,##0 ¤" if parsed.language == "fr" else "¤#,##0")


@lru_cache(maxsize=32_768)
def _money(locale: Locale | str, value: Decimal, digits: bool) -> str:
    """Formatted once per locale and amount: the pages show the same amounts on every request (equal Decimals,
    such as 1.5 and 1.50, format alike, so they may share an entry). The locale is the request's Locale object
    itself, not its name: a spend map formats a thousand amounts, and naming the locale cost more than the cache."""
    parsed, pattern = _currency_pattern(locale, digits)
    # currency_digits=False without digits, or Babel forces the euro's two decimals back into the pattern.
    return pattern.apply(value, parsed, currency="EUR", currency_digits=digits)


def number(value, places: int | None = None) -> str:
    return _number_text(get_locale() or "fr", value, places)


def _number_text(locale: Locale | str, value, places: int | None) -> str:
    if value is None:
        return "—"
    return _number(locale, type(value), value, places)


@lru_cache(maxsize=16)
def _decimal_pattern(locale: Locale | str, places: int | None) -> tuple[Locale, NumberPattern]:
    parsed = Locale.parse(locale)
    if places is None:
        return parsed, parsed.decimal_formats[None]
    return parsed, parse_pattern("#,##0." + "0" * places if places else "#,##0")


@lru_cache(maxsize=32_768)
def _number(locale: Locale | str, kind: type, value, places: int | None) -> str:
    """Formatted once per locale, type and value (as `_money`): Babel parses the pattern again on every call."""
    parsed, pattern = _decimal_pattern(locale, places)
    return pattern.apply(value, parsed)


def day(value: date | None, fmt: str = "medium") -> str:
    """'1er avril 2027', '2 avril 2027' (French writes the first of the month as an ordinal); 'Apr 1, 2027'."""
    if not value:
        return "—"
    text = format_date(value, fmt)
    if value.day == 1 and current_language() == "fr" and text.startswith("1 "):
        return "1er" + text[1:]
    return text


def instant(value: datetime | None, fmt: str = "medium", seconds: bool = False) -> str:
    """An aware UTC instant shown in Europe/Paris (the Babel timezone): '10 déc. 2026, 12:00', 'Dec 10, 2026,
    12:00 PM'. Deadlines are set to the minute, so no seconds unless asked for (a receipt's time of reception)."""
    return _instant_text(str(get_locale() or "fr"), str(get_timezone()), value, fmt, seconds)


def _instant_text(locale: str, timezone: str, value: datetime | None, fmt: str, seconds: bool) -> str:
    if not value:
        return "—"
    return _instant(locale, timezone, value, fmt, seconds)


@lru_cache(maxsize=32_768)
def _instant(locale: str, timezone: str, value: datetime, fmt: str, seconds: bool) -> str:
    """Formatted once per locale, time zone and instant: the pages show the same instants (bids received, answers
    published) on every request, and Babel takes a millisecond for each."""
    if seconds:
        return format_datetime(value, fmt)
    joined = get_datetime_format(fmt, locale=locale)
    return joined.replace("{1}", format_date(value, fmt)).replace("{0}", format_time(value, "short"))


@lru_cache(maxsize=8)
def _locale_named(name: str) -> Locale:
    return Locale.parse(name)


class Formats:
    """The `money`, `number` and `instant` filters with the request's locale and time zone looked up once: for a
    view that formats a table's hundreds of figures (the call page's evaluation), each lookup costing more than the
    remembered formatting itself."""

    __slots__ = ("_locale", "_locale_name", "_timezone")

    def __init__(self) -> None:
        self._locale_name = str(get_locale() or "fr")
        # one Locale object per name for every request: the remembered formats find it by identity, where the
        # request's own object is compared attribute by attribute (Locale.__eq__) at each look-up
        self._locale = _locale_named(self._locale_name)
        self._timezone = str(get_timezone())

    def money(self, amount: Decimal | int | str | None, digits: bool = True) -> str:
        return _money_text(self._locale, amount, digits)

    def number(self, value, places: int | None = None) -> str:
        return _number_text(self._locale, value, places)

    def instant(self, value: datetime | None, fmt: str = "medium", seconds: bool = False) -> str:
        return _instant_text(self._locale_name, self._timezone, value, fmt, seconds)


def siret(value: str | None) -> str:
    """A SIRET as printed in France, '123 456 789 00012' (SIREN in threes, then the establishment's five digits),
    with no-break spaces; anything that is not 14 digits is shown as it is."""
    if not value:
        return "—"
    digits = "".join(value.split())
    if len(digits) != 14 or not digits.isdigit():
        return value
    return "\u00a0".join((digits[0:3], digits[3:6], digits[6:9], digits[9:]))


def filesize(size: int | None) -> str:
    """'12,3 Ko' in French, '12.3 KB' in English (1 KB = 1,024 bytes); 'Mo'/'MB' from one mebibyte."""
    if size is None:
        return "—"
    if size >= 1024 * 1024:
        return _("%(size)s MB", size=format_decimal(size / (1024 * 1024), format="#,##0.0"))
    return _("%(size)s KB", size=format_decimal(size / 1024, format="#,##0.0"))


def register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(money=money, number=number, day=day, instant=instant, siret=siret, filesize=filesize)
    app.jinja_env.globals.update(current_language=current_language)
