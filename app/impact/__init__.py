"""Climate and local impact of overlaps, groups, calls and the whole portfolio (pages and their services)."""

from flask import Blueprint

bp = Blueprint("impact", __name__)
