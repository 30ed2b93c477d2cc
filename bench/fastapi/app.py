"""The peer users would choose instead: the same GET-item route (bearer JWT check + DynamoDB read)
with FastAPI + Mangum + boto3, run under awslambdaric against the same runtime emulator.

It reads the same table and key layout (`ITEM#<id>` / `ITEM`) and verifies the same HS256 tokens.
"""

import os
import uuid

import boto3
import jwt
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordBearer
from mangum import Mangum

app = FastAPI()
table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
secret = os.environ["JWT_SECRET"]
bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/login/access-token")


def current_user_id(token: str = Depends(bearer)) -> str:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(status_code=401, detail="Could not validate credentials", headers={"WWW-Authenticate": "Bearer"})
    if claims.get("type") != "access":
        raise HTTPException(status_code=401, detail="Could not validate credentials", headers={"WWW-Authenticate": "Bearer"})
    user = table.get_item(Key={"pk": f"USER#{claims['sub']}", "sk": "PROFILE"}, ConsistentRead=True).get("Item")
    if not user or not user.get("is_active"):
        raise HTTPException(status_code=401, detail="Could not validate credentials", headers={"WWW-Authenticate": "Bearer"})
    return claims["sub"]


@app.get("/api/v1/items/{id}")
def read_item(id: uuid.UUID, user_id: str = Depends(current_user_id)):
    item = table.get_item(Key={"pk": f"ITEM#{id}", "sk": "ITEM"}, ConsistentRead=True).get("Item")
    if not item:
        raise HTTPException(status_code=404, detail="Item not found")
    if item["owner_id"] != user_id:
        raise HTTPException(status_code=403, detail="Not enough permissions")
    return {
        "id": item["id"],
        "title": item["title"],
        "description": item.get("description"),
        "owner_id": item["owner_id"],
        "created_at": item["created_at"],
        "price": float(item["price"]) if "price" in item else None,
        "is_available": item.get("is_available", True),
        "updated_at": item["updated_at"],
    }


handler = Mangum(app, lifespan="off")
