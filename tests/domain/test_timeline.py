from datetime import date, timedelta

import pytest

from app.domain.timeline import load_lead_times, timeline


@pytest.mark.parametrize("code", ["none", "adapted", "formal"])
def test_steps_end_on_the_required_start_and_follow_each_other(code):
    steps = timeline(code, date(2027, 9, 1), today=date(2026, 1, 1))
    assert steps[-1].ends_on == date(2027, 9, 1)
    assert all(a.ends_on == b.starts_on for a, b in zip(steps, steps[1:], strict=False))
    weeks = sum(lead.weeks for lead in load_lead_times()[code])
    assert steps[0].starts_on == date(2027, 9, 1) - timedelta(weeks=weeks)
    assert not any(step.late for step in steps)


def test_a_formal_procedure_takes_longer_than_an_adapted_one():
    formal = timeline("formal", date(2027, 9, 1), today=date(2026, 1, 1))
    adapted = timeline("adapted", date(2027, 9, 1), today=date(2026, 1, 1))
    assert formal[0].starts_on < adapted[0].starts_on


def test_steps_that_should_have_started_are_marked_late():
    steps = timeline("formal", date(2027, 3, 1), today=date(2026, 12, 1))
    assert steps[0].late and not steps[-1].late


def test_labels_in_both_languages():
    step = timeline("formal", date(2027, 9, 1), today=date(2026, 1, 1))[0]
    assert step.label("fr").startswith("Signature de la convention") and step.label("en").startswith("Members sign")
