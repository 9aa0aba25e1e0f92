from flask import Blueprint

bp = Blueprint("spend", __name__)
