from flask import Blueprint

bp = Blueprint("organizations", __name__, url_prefix="/admin")
