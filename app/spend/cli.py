"""Command-line commands of the spend map (`flask spend ...`)."""

from flask import Flask


def register(app: Flask) -> None:
    """Add the spend commands to the app's CLI."""
