"""The FastAPI JSON endpoint every ASGI contender serves: a path parameter, a
query parameter, and a Pydantic model as the response (validated and
serialised by FastAPI), as a typical API endpoint is.

    GET /items/42?q=widget
"""

from typing import List, Optional

from fastapi import FastAPI
from pydantic import BaseModel


class Item(BaseModel):
    id: int
    name: str
    q: Optional[str] = None
    price: float
    tags: List[str]


app = FastAPI()


@app.get("/items/{item_id}", response_model=Item)
async def read_item(item_id: int, q: Optional[str] = None) -> Item:
    return Item(id=item_id, name=f"item {item_id}", q=q, price=9.99, tags=["bench", "json"])
