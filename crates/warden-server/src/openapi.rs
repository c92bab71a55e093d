//! `GET /openapi.json`: an OpenAPI 3.1 description of every route, built
//! from the route table and the models being served right now.
//!
//! It is assembled here rather than derived with a macro crate because the
//! most useful part is known only at run time: each served model's request
//! schema (its feature names, types, training ranges and category levels)
//! comes from the loaded package, and changes when a new version swaps in.

use serde_json::{Map, Value, json};
use warden::FeatureRule;

use crate::Shared;
use crate::state::Snapshot;

fn error_ref() -> Value {
    json!({"$ref": "#/components/schemas/Error"})
}

fn json_body(schema: Value, description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The responses every authenticated route can give besides its own.
fn guarded(mut own: Map<String, Value>, has_body: bool) -> Value {
    let mut add = |code: &str, what: &str| {
        own.entry(code.to_string())
            .or_insert_with(|| json_body(error_ref(), what));
    };
    add("401", "No, an invalid, expired or revoked credential");
    add("403", "The caller's role may not perform this action");
    add(
        "429",
        "The caller's rate limit is exhausted (see Retry-After)",
    );
    add(
        "503",
        "At the concurrency limit, timed out, or the model is not ready",
    );
    if has_body {
        add("413", "The request body is larger than the limit");
    }
    Value::Object(own)
}

fn responses(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn name_param(models: &[String]) -> Value {
    json!({
        "name": "name", "in": "path", "required": true,
        "description": "A served model's name",
        "schema": {"type": "string", "enum": models},
    })
}

fn version_param() -> Value {
    json!({
        "name": "version", "in": "path", "required": true,
        "description": "The served version (other versions are 404)",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    })
}

/// The JSON Schema of one record a model accepts.
fn record_schema(m: &crate::state::Loaded, tolerance: f64) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in &m.model.schema.features {
        let mut s = match &f.rule {
            FeatureRule::Numeric { .. } => {
                let mut s = json!({"type": "number"});
                if let Some((from, to)) = f.rule.accepted_range(tolerance) {
                    s["minimum"] = json!(from);
                    s["maximum"] = json!(to);
                }
                s
            }
            // Long level lists (free text) are not disclosed, as in errors.
            FeatureRule::Categorical { levels } => match levels {
                Some(l) if l.len() <= 12 => json!({"type": "string", "enum": l}),
                Some(l) => json!({"type": "string",
                    "description": format!("one of the {} levels seen in training", l.len())}),
                None => json!({"type": "string"}),
            },
        };
        if f.nullable {
            let t = s["type"].clone();
            s["type"] = json!([t, "null"]);
            if let Some(e) = s.get_mut("enum").and_then(Value::as_array_mut) {
                e.push(Value::Null);
            }
        }
        props.insert(f.name.clone(), s);
        required.push(f.name.clone());
    }
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// The document for the current snapshot.
pub fn document(s: &Shared, snap: &Snapshot) -> Value {
    let models: Vec<String> = snap.models.keys().cloned().collect();
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "details": {"type": "array", "items": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "instance": {"type": "integer", "minimum": 0},
                        "field": {"type": "string"},
                        "error": {"type": "string"},
                    },
                }},
            },
        }),
    );
    schemas.insert(
        "Tensor".into(),
        json!({
            "type": "object",
            "required": ["name", "shape", "datatype", "data"],
            "properties": {
                "name": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "datatype": {"type": "string", "enum": [
                    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                    "INT64", "FP16", "FP32", "FP64", "BYTES"]},
                "parameters": {"type": "object"},
                "data": {"type": "array"},
            },
        }),
    );
    schemas.insert(
        "InferRequest".into(),
        json!({
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string", "maxLength": 128},
                "parameters": {"type": "object"},
                "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}},
                "outputs": {"type": "array", "items": {"type": "object"}},
            },
        }),
    );
    schemas.insert(
        "InferResponse".into(),
        json!({
            "type": "object",
            "required": ["model_name", "model_version", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}},
            },
        }),
    );
    schemas.insert(
        "ModelMetadata".into(),
        json!({
            "type": "object",
            "required": ["name", "versions", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": {"type": "object"}},
                "outputs": {"type": "array", "items": {"type": "object"}},
                "parameters": {"type": "object"},
            },
        }),
    );
    schemas.insert(
        "PredictResponse".into(),
        json!({
            "type": "object",
            "required": ["model", "version", "predictions"],
            "properties": {
                "model": {"type": "string"},
                "version": {"type": "integer"},
                "predictions": {"type": "array", "items": {
                    "type": "object",
                    "required": ["label", "probabilities"],
                    "properties": {
                        "label": {"type": ["string", "null"]},
                        "abstained": {"type": "boolean"},
                        "probabilities": {"type": "object",
                            "additionalProperties": {"type": "number"}},
                    },
                }},
            },
        }),
    );

    let open = json!([]);
    paths.insert(
        "/v2/health/live".into(),
        json!({"get": {
            "summary": "Liveness", "operationId": "live", "security": open,
            "responses": {"200": json_body(json!({"type": "object",
                "required": ["live"], "properties": {"live": {"type": "boolean"}}}), "Alive")},
        }}),
    );
    let ready_schema = json!({"type": "object", "required": ["ready"], "properties": {
        "ready": {"type": "boolean"}, "env": {"type": "string"},
        "models": {"type": "array", "items": {"type": "object"}},
        "missing": {"type": "object", "additionalProperties": {"type": "string"}},
    }});
    paths.insert(
        "/v2/health/ready".into(),
        json!({"get": {
            "summary": "Readiness: every model the environment points at is loaded",
            "operationId": "ready", "security": open,
            "responses": {
                "200": json_body(ready_schema.clone(), "Ready"),
                "400": json_body(ready_schema, "Not ready; `missing` says why"),
            },
        }}),
    );
    paths.insert(
        "/v2".into(),
        json!({"get": {
            "summary": "Server metadata", "operationId": "serverMetadata",
            "responses": guarded(responses(&[("200", json_body(json!({"type": "object",
                "required": ["name", "version", "extensions"], "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"},
                    "extensions": {"type": "array", "items": {"type": "string"}}}}),
                "Server metadata"))]), false),
        }}),
    );
    let meta = json!({"$ref": "#/components/schemas/ModelMetadata"});
    let not_found = json_body(error_ref(), "No such model or version is served");
    paths.insert(
        "/v2/models/{name}".into(),
        json!({"get": {
            "summary": "Model metadata", "operationId": "modelMetadata",
            "parameters": [name_param(&models)],
            "responses": guarded(responses(&[("200", json_body(meta.clone(), "Metadata")),
                ("404", not_found.clone())]), false),
        }}),
    );
    paths.insert(
        "/v2/models/{name}/versions/{version}".into(),
        json!({"get": {
            "summary": "Model version metadata", "operationId": "modelVersionMetadata",
            "parameters": [name_param(&models), version_param()],
            "responses": guarded(responses(&[("200", json_body(meta, "Metadata")),
                ("404", not_found.clone())]), false),
        }}),
    );
    let ready_model = json!({"type": "object", "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}});
    paths.insert(
        "/v2/models/{name}/ready".into(),
        json!({"get": {
            "summary": "Model readiness", "operationId": "modelReady",
            "parameters": [name_param(&models)],
            "responses": guarded(responses(&[
                ("200", json_body(ready_model.clone(), "Ready")),
                ("400", json_body(ready_model, "Pointed at but not loaded")),
                ("404", not_found.clone())]), false),
        }}),
    );
    let infer = |op: &str, params: Value| {
        json!({"post": {
            "summary": "Open Inference Protocol v2 inference",
            "operationId": op,
            "parameters": params,
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/InferRequest"}}}},
            "responses": guarded(responses(&[
                ("200", json_body(json!({"$ref": "#/components/schemas/InferResponse"}), "Outputs")),
                ("400", json_body(error_ref(), "Invalid tensors or inputs (every error listed)")),
                ("404", not_found.clone())]), true),
        }})
    };
    paths.insert(
        "/v2/models/{name}/infer".into(),
        infer("infer", json!([name_param(&models)])),
    );
    paths.insert(
        "/v2/models/{name}/versions/{version}/infer".into(),
        infer(
            "inferVersion",
            json!([name_param(&models), version_param()]),
        ),
    );
    for (name, m) in &snap.models {
        let record = format!(
            "Record_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        schemas.insert(
            record.clone(),
            record_schema(m, s.cfg.validation.range_tolerance),
        );
        paths.insert(
            format!("/v1/models/{name}:predict"),
            json!({"post": {
                "summary": format!("Predict with {name} (records)"),
                "operationId": format!("predict_{}", record.trim_start_matches("Record_")),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["instances"],
                    "additionalProperties": false,
                    "properties": {"instances": {
                        "type": "array", "minItems": 1,
                        "maxItems": s.cfg.validation.max_instances,
                        "items": {"$ref": format!("#/components/schemas/{record}")},
                    }},
                }}}},
                "responses": guarded(responses(&[
                    ("200", json_body(json!({"$ref": "#/components/schemas/PredictResponse"}),
                        "Labels and probabilities")),
                    ("404", json_body(error_ref(), "The model is not being served")),
                    ("422", json_body(error_ref(), "Invalid instances (every error listed)"))]),
                    true),
            }}),
        );
    }
    // Bearer tokens are documented only when JWTs are accepted; API keys
    // may also be sent as `Authorization: Bearer KEY`, which the apiKey
    // scheme's description says.
    let security = if s.jwt.is_some() {
        json!([{"apiKey": []}, {"bearer": []}])
    } else {
        json!([{"apiKey": []}])
    };
    let mut schemes = Map::new();
    schemes.insert(
        "apiKey".into(),
        json!({"type": "apiKey", "in": "header", "name": "X-API-Key",
            "description": "A Warden API key (`warden apikey create`); also accepted as `Authorization: Bearer KEY`"}),
    );
    if s.jwt.is_some() {
        schemes.insert(
            "bearer".into(),
            json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "An OIDC access token from the configured issuer"}),
        );
    }
    if s.follows.is_none() {
        control_paths(&mut paths, &models);
    }
    let metrics_security = if s.cfg.public_metrics {
        json!([])
    } else {
        security.clone()
    };
    paths.insert(
        "/metrics".into(),
        json!({"get": {
            "summary": "Prometheus metrics (OpenMetrics text)", "operationId": "metrics",
            "security": metrics_security,
            "responses": guarded(responses(&[("200", json!({"description": "Metrics",
                "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}))]),
                false),
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {
            "summary": "This document", "operationId": "openapi",
            "responses": guarded(responses(&[("200", json_body(json!({"type": "object"}),
                "OpenAPI 3.1"))]), false),
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Warden inference API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Models served from environment {}.", s.cfg.env),
        },
        "security": security,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": schemes,
        },
    })
}

/// The control API (`/api/v1/`): every operation is decided by the
/// authorisation policy for the caller's roles (403 otherwise).
fn control_paths(paths: &mut Map<String, Value>, models: &[String]) {
    let list = json!({"type": "array", "items": {"type": "object"}});
    let obj = json!({"type": "object"});
    let name = json!({
        "name": "name", "in": "path", "required": true,
        "description": "A registered model's name (served or not)",
        "schema": {"type": "string", "examples": models},
    });
    let version = json!({
        "name": "version", "in": "path", "required": true,
        "schema": {"type": "string"},
    });
    let answer = |ok: Value, extra: &[(&str, &str)]| {
        let mut r = responses(&[("200", json_body(ok, "Done"))]);
        for (code, what) in extra {
            r.insert(code.to_string(), json_body(error_ref(), what));
        }
        r.entry("400".to_string())
            .or_insert_with(|| json_body(error_ref(), "A malformed name, version or body"));
        r.entry("500".to_string())
            .or_insert_with(|| json_body(error_ref(), "The store could not be read or written"));
        r
    };
    let body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let env_body = json!({"type": "object", "required": ["env"], "additionalProperties": false,
        "properties": {"env": {"type": "string"}}});
    let reason_body = json!({"type": "object", "required": ["reason"],
        "additionalProperties": false, "properties": {"reason": {"type": "string"}}});
    paths.insert(
        "/api/v1/models".into(),
        json!({"get": {"summary": "Every registered model version", "operationId": "listModels",
            "responses": guarded(answer(list.clone(), &[]), false)}}),
    );
    paths.insert(
        "/api/v1/models/{name}".into(),
        json!({"get": {"summary": "A model's versions and stage pointers", "operationId": "showModel",
            "parameters": [name.clone()],
            "responses": guarded(answer(obj.clone(), &[("404", "No such model")]), false)}}),
    );
    paths.insert(
        "/api/v1/models/{name}/versions/{version}".into(),
        json!({"get": {"summary": "One model version", "operationId": "showVersion",
            "parameters": [name.clone(), version.clone()],
            "responses": guarded(answer(obj.clone(), &[("404", "No such version")]), false)}}),
    );
    paths.insert(
        "/api/v1/models/{name}/versions/{version}/promote".into(),
        json!({"post": {"summary": "Gate and promote a version to an environment",
            "operationId": "promote", "parameters": [name.clone(), version.clone()],
            "requestBody": body(env_body.clone()),
            "responses": guarded(answer(obj.clone(), &[
                ("404", "No such version"),
                ("409", "The gate denied it, or the pipeline is frozen"),
                ("422", "The package failed verification")]), true)}}),
    );
    paths.insert(
        "/api/v1/models/{name}/versions/{version}/quarantine".into(),
        json!({"post": {"summary": "Quarantine a version (out of every environment)",
            "operationId": "quarantine", "parameters": [name.clone(), version],
            "requestBody": body(reason_body),
            "responses": guarded(answer(obj.clone(), &[
                ("404", "No such version"), ("409", "Already quarantined")]), true)}}),
    );
    paths.insert(
        "/api/v1/models/{name}/rollback".into(),
        json!({"post": {"summary": "Move an environment back to the last version that passed its gate",
            "operationId": "rollback", "parameters": [name],
            "requestBody": body(env_body),
            "responses": guarded(answer(obj.clone(), &[
                ("404", "No such model or no version to roll back to"),
                ("409", "No version to roll back to")]), true)}}),
    );
    let q = |n: &str, t: &str| json!({"name": n, "in": "query", "required": false, "schema": {"type": t}});
    paths.insert(
        "/api/v1/models/{name}/drift".into(),
        json!({"get": {"summary": "The latest monitoring windows (drift, OOD share) and the pause switch",
            "operationId": "drift",
            "parameters": [name.clone(), {"name": "limit", "in": "query", "required": false,
                "schema": {"type": "integer", "minimum": 0}}],
            "responses": guarded(answer(obj.clone(), &[]), false)}}),
    );
    paths.insert(
        "/api/v1/audit".into(),
        json!({"get": {"summary": "Audit events (at most 1000 per request)", "operationId": "auditLog",
            "parameters": [q("since", "integer"), q("actor", "string"), q("action", "string"),
                q("limit", "integer")],
            "responses": guarded(answer(list, &[]), false)}}),
    );
    paths.insert(
        "/api/v1/audit/proof/{index}".into(),
        json!({"get": {"summary": "An inclusion proof of one event in the signed log",
            "operationId": "auditProof",
            "parameters": [{"name": "index", "in": "path", "required": true,
                "schema": {"type": "integer", "minimum": 0}}],
            "responses": guarded(answer(obj, &[("404", "No such event")]), false)}}),
    );
}
