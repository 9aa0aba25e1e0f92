from flask_smorest import Blueprint

blp = Blueprint("api_spend", __name__, description="spend")
