import csv
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "app" / "data"


@pytest.fixture(scope="session")
def check_digits():
    """The check digit of every CPV code of the reference list, as the imports look them up."""
    with open(DATA / "cpv_2008.csv", encoding="utf-8", newline="") as handle:
        return {row["code"]: row["check_digit"] for row in csv.DictReader(handle)}
