"""The hello Flask app every WSGI contender serves."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!", 200, {"content-type": "text/plain"}
