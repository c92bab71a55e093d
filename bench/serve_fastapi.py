"""The server a user would write instead of `warden serve`, doing the same job.

FastAPI + uvicorn + pydantic + scikit-learn: the demo's credit data, the same
nine features, a logistic regression after standardisation and one-hot
encoding (scikit-learn's Pipeline), and the guardrails a careful engineer
adds by hand:
  - API-key authentication (SHA-256 of the key compared in constant time),
  - a per-key rate limiter (slowapi, in memory),
  - a request body size limit (Content-Length checked before reading),
  - pydantic validation: unknown fields refused, types, finite numbers,
    ranges from the training data widened by 10 %, known categories only,
    1..1000 instances.

Usage: python serve_fastapi.py CREDIT_CSV KEY   (then uvicorn imports `app`)
Environment: BENCH_CSV, BENCH_KEY when imported by uvicorn.
"""

import hashlib
import hmac
import math
import os
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["age", "income", "loan_amount", "credit_score", "num_accounts", "debt_ratio"]
CATEGORICAL = ["employment", "housing", "notes"]
MAX_BODY = 1 << 20

frame = pd.read_csv(os.environ["BENCH_CSV"])
pipe = Pipeline(
    [
        (
            "prep",
            ColumnTransformer(
                [
                    ("num", StandardScaler(), NUMERIC),
                    ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                ]
            ),
        ),
        ("model", LogisticRegression(max_iter=1000)),
    ]
)
pipe.fit(frame[NUMERIC + CATEGORICAL], frame["approved"].astype(str))
CLASSES = [str(c) for c in pipe.classes_]

fields = {}
for col in NUMERIC:
    lo, hi = float(frame[col].min()), float(frame[col].max())
    slack = (hi - lo) * 0.1 if hi > lo else max(abs(lo), 1.0) * 0.1
    fields[col] = (Annotated[float, Field(ge=lo - slack, le=hi + slack, allow_inf_nan=False)], ...)
for col in CATEGORICAL:
    levels = tuple(sorted(frame[col].dropna().astype(str).unique()))
    fields[col] = (Literal[levels], ...)
Record = create_model("Record", __config__=ConfigDict(extra="forbid"), **fields)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: Annotated[list[Record], Field(min_length=1, max_length=1000)]


KEY_HASH = hashlib.sha256(os.environ["BENCH_KEY"].encode()).digest()


def api_key(request: Request) -> str:
    presented = request.headers.get("x-api-key", "")
    if not hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), KEY_HASH):
        raise HTTPException(status_code=401, detail="invalid API key")
    return presented


limiter = Limiter(key_func=lambda request: request.headers.get("x-api-key", ""))
app = FastAPI()
app.state.limiter = limiter


@app.exception_handler(RateLimitExceeded)
async def rate_limited(request: Request, exc: RateLimitExceeded):
    return JSONResponse({"error": "rate limit exceeded"}, status_code=429, headers={"Retry-After": "1"})


@app.middleware("http")
async def body_limit(request: Request, call_next):
    length = request.headers.get("content-length")
    if length is not None and int(length) > MAX_BODY:
        return JSONResponse({"error": "request body too large"}, status_code=413)
    return await call_next(request)


@app.get("/health")
def health():
    return {"live": True}


@app.post("/v1/models/credit:predict")
@limiter.limit("100000/second")
def predict(request: Request, body: PredictRequest, key: str = Depends(api_key)):
    rows = pd.DataFrame([r.model_dump() for r in body.instances])
    probs = pipe.predict_proba(rows)
    out = []
    for p in probs:
        if not all(math.isfinite(x) for x in p):
            raise HTTPException(status_code=500, detail="model error")
        i = int(np.argmax(p))
        out.append({"label": CLASSES[i], "probabilities": dict(zip(CLASSES, map(float, p)))})
    return {"model": "credit", "predictions": out}
