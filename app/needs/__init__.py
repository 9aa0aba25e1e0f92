from flask import Blueprint

bp = Blueprint("needs", __name__)
