from flask_smorest import Blueprint

blp = Blueprint("api_groups", __name__, description="groups")
