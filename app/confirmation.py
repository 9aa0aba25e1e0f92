"""A confirmation step before the actions that cannot be undone (publishing a call, constituting a group, signing a
convention, awarding a lot, deleting a lot), without JavaScript: the action's button posts its form; the view, once
it has loaded the object (so that whoever may not see it still gets 404), answers with a page that says what will
happen and posts the same fields again with `confirmed=yes`. Only that second post acts. The API is unchanged.
"""

from __future__ import annotations

from flask import render_template, request

FIELD = "confirmed"
SKIPPED = ("csrf_token", FIELD)


def confirmed() -> bool:
    """Whether the post carries the explicit confirmation."""
    return request.form.get(FIELD) == "yes"


def ask(title: str, question: str, consequences: list[str], button: str, cancel_url: str):
    """The confirmation page: the question, what the action does, and a form re-posting the fields sent."""
    fields = [(name, value) for name, value in request.form.items(multi=True) if name not in SKIPPED]
    return render_template(
        "confirm.html",
        title=title,
        question=question,
        consequences=consequences,
        button=button,
        action=request.path,
        fields=fields,
        cancel_url=cancel_url,
    )
