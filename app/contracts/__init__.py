"""After the award: each member's contract, framework agreements with their orders, amendments, signing after the
standstill, supplier evaluations and the renewal radar that turns expiring contracts into the next needs."""

from flask import Blueprint

bp = Blueprint("contracts", __name__)
