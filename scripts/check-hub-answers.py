#!/usr/bin/env python3
"""Real answers of a running hub against its own OpenAPI document.

Schemathesis mostly generates requests the hub refuses, so its success
answers are rarely checked. This calls every route with a valid request as
an admin, over a demo workspace, and validates each answer's body against
the schema the document gives for that route and status (JSON Schema 2020-12,
with `jsonschema_rs`, which Schemathesis installs).

Usage: check-hub-answers.py BASE TOKEN OPENAPI_JSON
"""

import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

import jsonschema_rs

BASE, TOKEN, DOC = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
TEAM = "/api/v1/teams/default"


def call(method, path, body=None, content_type="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def template_of(path):
    """The document's path template that `path` (without its query) matches."""
    bare = path.split("?")[0]
    parts = bare.strip("/").split("/")
    for t in DOC["paths"]:
        tp = t.strip("/").split("/")
        if len(tp) == len(parts) and all(
            a == b or (a.startswith("{") and a.endswith("}")) for a, b in zip(tp, parts)
        ):
            return t
    raise SystemExit(f"check-hub-answers: {bare} is not in the document")


checked = 0
problems = []


def check(method, path, body=None, content_type="application/json", want=None):
    global checked
    status, answer = call(method, path, body, content_type)
    op = DOC["paths"][template_of(path)][method.lower()]
    if want is not None and status not in want:
        problems.append(f"{method} {path}: status {status}, wanted {want}: {answer}")
        return answer
    documented = op["responses"].get(str(status))
    if documented is None:
        problems.append(f"{method} {path}: status {status} is not documented")
        return answer
    schema = documented["content"]["application/json"]["schema"]
    root = dict(schema)
    root["components"] = DOC.get("components", {})
    errors = list(jsonschema_rs.Draft202012Validator(root).iter_errors(answer))
    if errors:
        for e in errors[:3]:
            problems.append(f"{method} {path} ({status}): {e.message} at {list(e.instance_path)}")
    else:
        checked += 1
    return answer


def multipart(parts):
    boundary = "check-hub-answers-7f3a"
    out = b""
    for name, filename, data in parts:
        out += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"".encode()
        if filename:
            out += f"; filename=\"{filename}\"".encode()
        out += b"\r\n\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


# The checker itself: a version's schema must refuse what is not a version,
# or every check below would pass for nothing.
version_schema = dict(DOC["paths"][f"{TEAM}/models/{{name}}/versions/{{version}}"]["get"]
                      ["responses"]["200"]["content"]["application/json"]["schema"])
version_schema["components"] = DOC.get("components", {})
if jsonschema_rs.Draft202012Validator(version_schema).is_valid({"name": 5}):
    raise SystemExit("check-hub-answers: the version schema accepts anything")

check("GET", "/api/v1/whoami", want=[200])
check("GET", f"{TEAM}/models", want=[200])
check("GET", f"{TEAM}/models/credit", want=[200])
check("GET", f"{TEAM}/models/credit/versions/1", want=[200])
check("GET", f"{TEAM}/keys", want=[200])
check("GET", f"{TEAM}/roles", want=[200])
check("GET", f"{TEAM}/tokens", want=[200])
check("GET", f"{TEAM}/audit?limit=5", want=[200])
check("GET", f"{TEAM}/audit/proof/0", want=[200])
check("GET", "/log/consistency?old=1&new=2", want=[200])
check("GET", f"{TEAM}/pipelines", want=[200])
check("GET", f"{TEAM}/pipelines/1", want=[200, 404])
sarif = {
    "version": "2.1.0",
    "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
    "runs": [{"tool": {"driver": {"name": "bandit", "rules": []}}, "results": []}],
}
check("POST", f"{TEAM}/models/credit/versions/1/evidence",
      {"tool": "bandit", "report": sarif}, want=[201])
check("GET", f"{TEAM}/models/credit/versions/1/evidence", want=[200])
check("POST", f"{TEAM}/roles/grant",
      {"principal": "corp.answers@example.com", "role": "auditor"}, want=[200])
check("POST", f"{TEAM}/roles/revoke",
      {"principal": "corp.answers@example.com", "role": "auditor"}, want=[200])
# A promotion the gate decides either way: 200 promoted, 409 denied.
check("POST", f"{TEAM}/models/credit/versions/1/promote", {"env": "dev"}, want=[200, 409])
check("POST", f"{TEAM}/models/credit/rollback", {"env": "staging"}, want=[200, 404, 409])
csv = b"id,x,y\n" + b"".join(f"{i},{i % 7},{i % 2}\n".encode() for i in range(200))
body, ctype = multipart([
    ("request", None, json.dumps({"sha256": hashlib.sha256(csv).hexdigest(),
                                  "target": "y", "no_screen": True}).encode()),
    ("data", "answers.csv", csv),
])
check("POST", f"{TEAM}/datasets/answers/versions", body, ctype, want=[201])
# A model file: the repository's penguin classifier (ONNX) with its schema.
fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates",
                        "warden-ml", "tests", "data", "onnx")
onnx = open(os.path.join(fixtures, "linear.onnx"), "rb").read()
schema = (b'classes = ["Adelie", "Chinstrap", "Gentoo"]\n'
          + b"".join(b'[[features]]\nname = "%s"\nmin = 0\nmax = 10000\n' % f
                     for f in [b"bill_length_mm", b"bill_depth_mm", b"flipper_length_mm",
                               b"body_mass_g"]))
body, ctype = multipart([
    ("request", None, json.dumps({"sha256": hashlib.sha256(onnx).hexdigest(),
                                  "schema_sha256": hashlib.sha256(schema).hexdigest()}).encode()),
    ("schema", "penguins.toml", schema),
    ("model", "linear.onnx", onnx),
])
check("POST", f"{TEAM}/models/penguins-answers/versions", body, ctype, want=[201])
# What serving replicas call, and the inference API keys they check.
check("GET", f"{TEAM}/environments/production/serving", want=[200])
check("POST", f"{TEAM}/environments/production/apikeys/check",
      {"key": "wdn_0123456789ab_" + "A" * 43}, want=[200])
check("POST", f"{TEAM}/environments/production/serving/events",
      {"action": "serve.skip", "model": "credit", "version": 1,
       "details": {"reason": "check-hub-answers"}}, want=[201])
check("GET", f"{TEAM}/models/credit/versions/1/package", want=[200])
check("GET", f"{TEAM}/apikeys", want=[200])
check("POST", f"{TEAM}/apikeys", {"name": "answers", "role": "predictor", "expires": "30d"},
      want=[201])
check("POST", f"{TEAM}/apikeys/answers/revoke", want=[200])
check("POST", f"{TEAM}/models/credit/versions/1/quarantine",
      {"reason": "check-hub-answers"}, want=[200])

for p in problems:
    print("check-hub-answers:", p)
print(f"check-hub-answers: {checked} answers conform to the document, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
