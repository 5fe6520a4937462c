from fastapi import FastAPI, Header, HTTPException, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    size: int


@app.get("/")
async def index():
    return {"hello": "fastapi"}


@app.post("/items")
async def create(item: Item, response: Response, x_custom: str = Header(default="")):
    response.headers["X-Answer"] = "42"
    return {"name": item.name, "double": item.size * 2, "x-custom": x_custom}


@app.get("/items/{n}")
async def item(n: int):
    if n < 0:
        raise HTTPException(status_code=404, detail="no such item")
    return {"n": n}


@app.get("/stream")
async def stream(n: int = 5):
    async def lines():
        for i in range(n):
            yield f"line {i}\n"

    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/fail")
async def fail():
    raise RuntimeError("this route always fails")


@app.websocket("/ws/{room}")
async def room(websocket: WebSocket, room: str, name: str = "anon"):
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"][::-1])
            else:
                await websocket.send_json({"room": room, "name": name, "said": message["text"]})
    except WebSocketDisconnect:
        return
