"""URL converters shared by every route."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

# The largest id a path may carry is a BIGINT's, as for any id a client sends (ids themselves are drawn below 2**53,
# see app.db.random_id).
from app.domain.bounds import MAX_ID as MAX_PATH_ID


def _at_most(limit: int) -> str:
    """A regular expression matching exactly the integers 1..limit written without leading zeros.

    The range is in the pattern, not only in `to_python`: werkzeug answers 405 instead of 404 when a converter refuses
    a value that another method's rule on the same path would have matched."""
    digits = str(limit)
    shorter = rf"[1-9]\d{{0,{len(digits) - 2}}}" if len(digits) > 1 else ""
    same_length = []
    for position, digit in enumerate(digits):
        low = "1" if position == 0 else "0"
        if int(digit) > int(low):
            rest = len(digits) - position - 1
            same_length.append(rf"{digits[:position]}[{low}-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    same_length.append(digits)
    return "(?:" + "|".join(filter(None, [shorter, *same_length])) + ")"


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: a positive integer a BIGINT column holds. Anything else (0, a negative number,
    2**63 and above, leading zeros) matches no route, so it answers 404 before any query is sent."""

    regex = _at_most(MAX_PATH_ID)

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = 1,
        max: int | None = MAX_PATH_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def register(app) -> None:
    """Make `int` the bounded id converter; call it before any blueprint adds its rules."""
    app.url_map.converters["int"] = IdConverter
