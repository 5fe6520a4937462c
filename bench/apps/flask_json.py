"""The Flask JSON endpoint every WSGI contender serves: the same answer as
fastapi_json.py's, from a path parameter and a query parameter.

    GET /items/42?q=widget
"""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/items/<int:item_id>")
def read_item(item_id):
    return jsonify(id=item_id, name=f"item {item_id}", q=request.args.get("q"), price=9.99, tags=["bench", "json"])
