from flask import Blueprint

bp = Blueprint("overlaps", __name__)
