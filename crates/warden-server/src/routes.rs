//! The inference routes: Open Inference Protocol v2 (health, metadata,
//! infer) and the records endpoint `POST /v1/models/{name}:predict`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use warden::train::Prediction;
use warden::{FeatureRule, FieldError};

use crate::Shared;
use crate::guard::{Client, error};
use crate::state::Loaded;

/// `GET /v2/health/live`: `{"live": true}` whenever the process answers.
pub async fn live() -> Response {
    Json(json!({"live": true})).into_response()
}

/// `GET /v2/health/ready`: 200 when every model the environment points at
/// is loaded (and there is at least one); otherwise 400, the protocol's
/// "not ready", with `missing` naming what is not loaded and why. The body
/// is `{"ready", "env", "models", "missing"}` either way.
pub async fn ready(State(s): State<Arc<Shared>>) -> Response {
    let snap = s.current.get();
    let models: Vec<Value> = snap
        .models
        .values()
        .map(|m| json!({"name": m.model.name, "version": m.model.version.to_string()}))
        .collect();
    let ready = snap.missing.is_empty() && !snap.models.is_empty();
    let body = json!({
        "ready": ready,
        "env": s.cfg.env,
        "models": models,
        "missing": snap.missing,
    });
    // The Open Inference Protocol answers "not ready" with a 4xx status
    // (as Triton does, 400); probes treat any status ≥ 400 as not ready.
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(body)).into_response()
}

/// `GET /v2`: the server's name (`warden`), version and protocol
/// extensions (none).
pub async fn server_metadata() -> Response {
    Json(json!({
        "name": "warden",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    }))
    .into_response()
}

fn find(s: &Shared, name: &str) -> Result<Arc<Loaded>, Response> {
    let snap = s.current.get();
    if let Some(m) = snap.models.get(name) {
        return Ok(m.clone());
    }
    if snap.missing.contains_key(name) {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "model {name} is not being served: the version its stage points at was not loaded (see /v2/health/ready)"
            ),
        ));
    }
    Err(error(
        StatusCode::NOT_FOUND,
        format!(
            "no model named {:?} is served in {}",
            short(name),
            s.cfg.env
        ),
    ))
}

fn check_version(m: &Loaded, version: Option<&str>) -> Result<(), Response> {
    match version {
        Some(v) if v != m.model.version.to_string() => Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "model {} version {:?} is not served (version {} is)",
                m.model.name,
                short(v),
                m.model.version
            ),
        )),
        _ => Ok(()),
    }
}

/// User text echoed in an error, bounded.
fn short(s: &str) -> String {
    warden::truncate_text(s, 64)
}

fn tensor_type(rule: &FeatureRule) -> &'static str {
    match rule {
        FeatureRule::Numeric { .. } => "FP64",
        FeatureRule::Categorical { .. } => "BYTES",
    }
}

fn metadata(m: &Loaded) -> Value {
    let inputs: Vec<Value> = m
        .model
        .schema
        .features
        .iter()
        .map(|f| json!({"name": f.name, "datatype": tensor_type(&f.rule), "shape": [-1]}))
        .collect();
    let classes = m.shown_classes.len();
    json!({
        "name": m.model.name,
        "versions": [m.model.version.to_string()],
        "platform": format!("warden-{}", m.model.platform),
        "inputs": inputs,
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, classes]},
        ],
        "parameters": {
            "digest": m.model.digest,
            "classes": m.shown_classes,
        },
    })
}

/// `GET /v2/models/{name}`: the served version's metadata: its inputs as
/// tensors (`FP64` or `BYTES`, one per feature), its outputs (`label`,
/// `probabilities`), platform, package digest and classes. 404 if the
/// model is not served.
pub async fn model_metadata(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match find(&s, &name) {
        Ok(m) => Json(metadata(&m)).into_response(),
        Err(r) => r,
    }
}

/// `GET /v2/models/{name}/versions/{version}`: as [`model_metadata`],
/// and 404 unless `version` is the one served.
pub async fn model_version_metadata(
    State(s): State<Arc<Shared>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    match find(&s, &name).and_then(|m| check_version(&m, Some(&version)).map(|_| m)) {
        Ok(m) => Json(metadata(&m)).into_response(),
        Err(r) => r,
    }
}

/// `GET /v2/models/{name}/ready`: 200 `{"name", "ready": true}` when the
/// model is served; 400 with `"ready": false` when the environment points
/// at it but it could not be loaded; 404 when the environment does not
/// point at it.
pub async fn model_ready(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match find(&s, &name) {
        Ok(m) => Json(json!({"name": m.model.name, "ready": true})).into_response(),
        Err(r) if s.current.get().missing.contains_key(&name) => {
            drop(r);
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"name": name, "ready": false})),
            )
                .into_response()
        }
        Err(r) => r,
    }
}

fn body_error(e: BytesRejection) -> Response {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        error(status, "request body exceeds the size limit")
    } else {
        error(status, "the request body could not be read")
    }
}

/// Predicts and applies the output rules: abstention below the confidence
/// floor, per-class counters.
fn predict(
    s: &Shared,
    m: &Loaded,
    records: &[Map<String, Value>],
) -> Result<Vec<(Option<usize>, Prediction)>, Response> {
    let preds = m.model.predictor.predict_json(records).map_err(|_| {
        // The model's own error text can name internals; the validated
        // request should never reach here.
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the model could not score this request",
        )
    })?;
    let mut out = Vec::with_capacity(preds.len());
    for p in preds {
        let best = (0..p.probabilities.len())
            .filter(|&i| p.probabilities[i].is_finite())
            .fold(None, |b: Option<usize>, i| match b {
                Some(j) if p.probabilities[j] >= p.probabilities[i] => Some(j),
                _ => Some(i),
            });
        let confident = match (best, s.cfg.min_confidence) {
            (Some(i), Some(floor)) => p.probabilities[i] >= floor,
            (Some(_), None) => true,
            (None, _) => false,
        };
        match best.filter(|_| confident) {
            Some(i) => {
                if let Some(c) = m.class_counters.get(i) {
                    c.inc();
                }
                out.push((Some(i), p));
            }
            None => {
                m.abstention_counter.inc();
                out.push((None, p));
            }
        }
    }
    Ok(out)
}

/// Hands validated records and their predictions to the monitor, if one
/// runs; never waits for it.
fn hand_over(
    s: &Shared,
    m: &Arc<Loaded>,
    client: Option<Extension<Client>>,
    records: Vec<Map<String, Value>>,
    preds: &[(Option<usize>, Prediction)],
) {
    // The guard attaches the client only to requests within the
    // monitor's budget: no client, not observed.
    let (Some(monitor), Some(Extension(client))) = (s.monitor.get(), client) else {
        return;
    };
    let predicted = preds
        .iter()
        .map(|(best, p)| {
            let top = p
                .probabilities
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .fold(0.0f64, f64::max);
            (*best, top)
        })
        .collect();
    monitor.offer(
        crate::monitor::Observation {
            model: m.clone(),
            client: client.name,
            records,
            predicted,
        },
        &s.metrics,
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    instances: Vec<Map<String, Value>>,
}

fn invalid(status: StatusCode, errors: Vec<FieldError>) -> Response {
    (
        status,
        Json(json!({
            "error": format!("{} input error{}", errors.len(), if errors.len() == 1 { "" } else { "s" }),
            "details": errors,
        })),
    )
        .into_response()
}

/// `POST /v1/models/{name}:predict` with `{"instances": [{…}, …]}`.
pub async fn predict_records(
    State(s): State<Arc<Shared>>,
    Path(target): Path<String>,
    client: Option<Extension<Client>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(name) = target.strip_suffix(":predict") else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown route: POST /v1/models/{name}:predict",
        );
    };
    let m = match find(&s, name) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    let mut req: PredictRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return invalid(
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![FieldError {
                    instance: None,
                    field: None,
                    error: format!(
                        "the body must be {{\"instances\": [{{…}}, …]}}: {}",
                        json_error(&e)
                    ),
                }],
            );
        }
    };
    m.model.schema.normalize(&mut req.instances);
    if s.cfg.validate_inputs
        && let Err(errors) = m.model.schema.validate(&req.instances, &s.cfg.validation)
    {
        return invalid(StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    let preds = match predict(&s, &m, &req.instances) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let predictions: Vec<Value> = preds
        .iter()
        .map(|(best, p)| {
            let probs: Map<String, Value> = m
                .shown_classes
                .iter()
                .zip(&p.probabilities)
                .map(|(c, v)| (c.clone(), json!(v)))
                .collect();
            match best {
                Some(i) => json!({"label": m.shown_classes[*i], "probabilities": probs}),
                None => json!({"label": null, "abstained": true, "probabilities": probs}),
            }
        })
        .collect();
    let out = json!({
        "model": m.model.name,
        "version": m.model.version,
        "predictions": predictions,
    });
    hand_over(&s, &m, client, req.instances, &preds);
    Json(out).into_response()
}

/// A serde_json error without echoing the input.
fn json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable body",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "wrong structure",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    // serde_json's data errors name the field and expected type, not values.
    let detail = e.to_string();
    let detail: String = detail.chars().take(200).collect();
    format!("{what} ({detail})")
}

/// One input tensor of an inference request.
#[derive(Deserialize)]
struct Tensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Value>,
    /// Absent when the tensor's bytes follow the JSON (binary extension).
    #[serde(default)]
    data: Value,
}

/// The header of the binary tensor data extension (Triton, KServe): the
/// first N bytes of the body are the JSON request, the rest the tensors
/// whose `parameters.binary_data_size` says how many bytes they take.
const BINARY_HEADER: &str = "inference-header-content-length";

/// An inference request body as the infer routes read it: JSON, or the
/// binary extension when its header is present; every input must end up
/// with data.
fn parse_request(binary_header: Option<&str>, body: &Bytes) -> Result<InferRequest, String> {
    let req: InferRequest = match binary_header {
        Some(h) => apply_binary(h, body)?,
        None => serde_json::from_slice(body)
            .map_err(|e| format!("not an inference request: {}", json_error(&e)))?,
    };
    if let Some(t) = req.inputs.iter().find(|t| t.data.is_null()) {
        return Err(format!("input {:?} has no data", short(&t.name)));
    }
    Ok(req)
}

/// Reads an untrusted inference body exactly as the infer routes do, up to
/// the point where a model is needed (tensor data flattened): the entry
/// point of the `serve_infer` fuzz target. Returns the number of inputs.
pub fn parse_infer_body(binary_header: Option<&str>, body: &[u8]) -> Result<usize, String> {
    let req = parse_request(binary_header, &Bytes::copy_from_slice(body))?;
    for t in &req.inputs {
        let mut flat = Vec::new();
        flatten(&t.data, &mut flat, 0)?;
    }
    Ok(req.inputs.len())
}

/// Decodes one tensor's raw little-endian bytes into JSON values.
fn decode_binary(datatype: &str, raw: &[u8]) -> Result<Vec<Value>, String> {
    fn chunks<const N: usize>(raw: &[u8]) -> Result<impl Iterator<Item = [u8; N]> + '_, String> {
        if !raw.len().is_multiple_of(N) {
            return Err(format!(
                "{} bytes is not a whole number of {N}-byte elements",
                raw.len()
            ));
        }
        Ok(raw.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        }))
    }
    // NaN and infinities are refused here: JSON cannot carry them, and
    // a null would read as a missing value.
    let finite = |xs: Vec<f64>| -> Result<Vec<Value>, String> {
        xs.into_iter()
            .map(|x| {
                serde_json::Number::from_f64(x)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{x} is not a finite number"))
            })
            .collect()
    };
    Ok(match datatype {
        "BOOL" => raw.iter().map(|b| Value::Bool(*b != 0)).collect(),
        "UINT8" => raw.iter().map(|b| json!(*b)).collect(),
        "INT8" => raw.iter().map(|b| json!(*b as i8)).collect(),
        "UINT16" => chunks::<2>(raw)?
            .map(|c| json!(u16::from_le_bytes(c)))
            .collect(),
        "INT16" => chunks::<2>(raw)?
            .map(|c| json!(i16::from_le_bytes(c)))
            .collect(),
        "UINT32" => chunks::<4>(raw)?
            .map(|c| json!(u32::from_le_bytes(c)))
            .collect(),
        "INT32" => chunks::<4>(raw)?
            .map(|c| json!(i32::from_le_bytes(c)))
            .collect(),
        "UINT64" => chunks::<8>(raw)?
            .map(|c| json!(u64::from_le_bytes(c)))
            .collect(),
        "INT64" => chunks::<8>(raw)?
            .map(|c| json!(i64::from_le_bytes(c)))
            .collect(),
        "FP32" => finite(
            chunks::<4>(raw)?
                .map(|c| f32::from_le_bytes(c) as f64)
                .collect(),
        )?,
        "FP64" => finite(chunks::<8>(raw)?.map(f64::from_le_bytes).collect())?,
        "BYTES" => {
            // Each element: a 4-byte little-endian length, then the bytes.
            let mut out = Vec::new();
            let mut rest = raw;
            while !rest.is_empty() {
                let (len, tail) = rest
                    .split_first_chunk::<4>()
                    .ok_or("a BYTES element's length is cut short")?;
                let len = u32::from_le_bytes(*len) as usize;
                if len > tail.len() {
                    return Err("a BYTES element runs past the data".into());
                }
                let (item, tail) = tail.split_at(len);
                let text = std::str::from_utf8(item)
                    .map_err(|_| "a BYTES element is not UTF-8 text".to_string())?;
                out.push(Value::String(text.to_string()));
                rest = tail;
            }
            out
        }
        other => return Err(format!("binary data of datatype {other} is not accepted")),
    })
}

/// Splits a binary-extension body and fills each tensor's data.
fn apply_binary(header_len: &str, body: &Bytes) -> Result<InferRequest, String> {
    let n: usize = header_len
        .trim()
        .parse()
        .map_err(|_| format!("{BINARY_HEADER} is not a byte count"))?;
    if n > body.len() {
        return Err(format!(
            "{BINARY_HEADER} {n} is larger than the body ({} bytes)",
            body.len()
        ));
    }
    let mut req: InferRequest = serde_json::from_slice(&body[..n])
        .map_err(|e| format!("not an inference request: {}", json_error(&e)))?;
    let mut rest = &body[n..];
    for t in &mut req.inputs {
        let size = t
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"))
            .map(|v| v.as_u64().ok_or("binary_data_size must be a byte count"))
            .transpose()?;
        let Some(size) = size else { continue };
        let size = usize::try_from(size).map_err(|_| "binary_data_size too large".to_string())?;
        if size > rest.len() {
            return Err(format!(
                "input {:?}: binary_data_size {size} runs past the body",
                short(&t.name)
            ));
        }
        if !t.data.is_null() {
            return Err(format!(
                "input {:?}: both data and binary_data_size",
                short(&t.name)
            ));
        }
        let (raw, tail) = rest.split_at(size);
        t.data = Value::Array(
            decode_binary(&t.datatype, raw)
                .map_err(|e| format!("input {:?}: {e}", short(&t.name)))?,
        );
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes of binary data belong to no input",
            rest.len()
        ));
    }
    Ok(req)
}

#[derive(Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    parameters: Option<Value>,
    inputs: Vec<Tensor>,
    #[serde(default)]
    #[allow(dead_code)]
    outputs: Option<Value>,
}

fn flatten(v: &Value, out: &mut Vec<Value>, depth: usize) -> Result<(), String> {
    if depth > 8 {
        return Err("data nests deeper than the shape allows".into());
    }
    match v {
        Value::Array(items) => {
            for i in items {
                flatten(i, out, depth + 1)?;
            }
            Ok(())
        }
        other => {
            out.push(other.clone());
            Ok(())
        }
    }
}

const NUMERIC_TYPES: [&str; 12] = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "FP32", "FP64",
];

/// One tensor element as a record value, checked against its datatype.
fn element(datatype: &str, v: Value) -> Result<Value, String> {
    match (datatype, &v) {
        ("BYTES", Value::String(_)) => Ok(v),
        ("BYTES", _) => Err("BYTES data must be strings".into()),
        ("BOOL", Value::Bool(b)) => Ok(json!(if *b { 1.0 } else { 0.0 })),
        ("BOOL", _) => Err("BOOL data must be true or false".into()),
        (_, Value::Number(_)) => Ok(v),
        (t, _) => Err(format!("{t} data must be numbers")),
    }
}

/// Turns the request's tensors into records: either one tensor per input
/// feature (shape `[N]` or `[N, 1]`), or a single `[N, F]` tensor holding
/// every feature in the model's input order.
fn records_from_tensors(
    m: &Loaded,
    inputs: Vec<Tensor>,
    max_instances: usize,
) -> Result<Vec<Map<String, Value>>, String> {
    let features = &m.model.schema.features;
    let mut columns: Vec<(String, Vec<Value>)> = Vec::new();
    let mut rows: Option<usize> = None;
    let single = inputs.len() == 1
        && inputs[0].shape.len() == 2
        && features.len() > 1
        && !features.iter().any(|f| f.name == inputs[0].name);
    for t in inputs {
        if !NUMERIC_TYPES.contains(&t.datatype.as_str()) && t.datatype != "BYTES" {
            return Err(format!(
                "input {:?}: datatype {:?} is not an Open Inference Protocol type",
                short(&t.name),
                short(&t.datatype)
            ));
        }
        if t.shape.is_empty() || t.shape.len() > 2 || t.shape.iter().any(|&d| d < 0) {
            return Err(format!(
                "input {:?}: shape {:?} must be [N], [N, 1] or [N, F] with non-negative sizes",
                short(&t.name),
                t.shape
            ));
        }
        let n = t.shape[0] as u64;
        let width = t.shape.get(1).copied().unwrap_or(1) as u64;
        let expected = n.checked_mul(width).ok_or("shape too large")?;
        if n > max_instances as u64 {
            return Err(format!(
                "input {:?}: {n} instances in one request; at most {max_instances} are accepted",
                short(&t.name)
            ));
        }
        let mut flat = Vec::new();
        flatten(&t.data, &mut flat, 0).map_err(|e| format!("input {:?}: {e}", short(&t.name)))?;
        if flat.len() as u64 != expected {
            return Err(format!(
                "input {:?}: shape {:?} holds {expected} elements but data has {}",
                short(&t.name),
                t.shape,
                flat.len()
            ));
        }
        let n = n as usize;
        if *rows.get_or_insert(n) != n {
            return Err(format!(
                "input {:?} has {n} rows, another input has {}",
                short(&t.name),
                rows.unwrap_or(0)
            ));
        }
        let values = flat
            .into_iter()
            .map(|v| element(&t.datatype, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("input {:?}: {e}", short(&t.name)))?;
        if single {
            if width as usize != features.len() {
                return Err(format!(
                    "input {:?}: shape {:?} has {width} columns; the model takes {} features ({})",
                    short(&t.name),
                    t.shape,
                    features.len(),
                    features
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (j, f) in features.iter().enumerate() {
                let col = (0..n)
                    .map(|i| values[i * features.len() + j].clone())
                    .collect();
                columns.push((f.name.clone(), col));
            }
        } else {
            if width != 1 {
                return Err(format!(
                    "input {:?}: one tensor per feature must have shape [N] or [N, 1]",
                    short(&t.name)
                ));
            }
            if columns.iter().any(|(c, _)| *c == t.name) {
                return Err(format!("input {:?} is given twice", short(&t.name)));
            }
            columns.push((t.name, values));
        }
    }
    let n = rows.unwrap_or(0);
    let mut records = vec![Map::new(); n];
    for (name, values) in columns {
        for (r, v) in records.iter_mut().zip(values) {
            r.insert(name.clone(), v);
        }
    }
    Ok(records)
}

fn v2_error(errors: &[FieldError]) -> Response {
    let text: Vec<String> = errors
        .iter()
        .map(|e| match (&e.instance, &e.field) {
            (Some(i), Some(f)) => format!("instance {i}, {f}: {}", e.error),
            (None, Some(f)) => format!("{f}: {}", e.error),
            _ => e.error.clone(),
        })
        .collect();
    error(StatusCode::BAD_REQUEST, text.join("; "))
}

async fn infer_inner(
    s: Arc<Shared>,
    name: String,
    version: Option<String>,
    client: Option<Extension<Client>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let m = match find(&s, &name).and_then(|m| check_version(&m, version.as_deref()).map(|_| m)) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    let binary = headers
        .get(BINARY_HEADER)
        .map(|v| v.to_str().unwrap_or("not text").to_string());
    let req = match parse_request(binary.as_deref(), &body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let Some(id) = &req.id
        && (id.len() > 128 || id.chars().any(char::is_control))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "id: at most 128 characters, no control characters",
        );
    }
    let mut records = match records_from_tensors(&m, req.inputs, s.cfg.validation.max_instances) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    m.model.schema.normalize(&mut records);
    if s.cfg.validate_inputs
        && let Err(errors) = m.model.schema.validate(&records, &s.cfg.validation)
    {
        return v2_error(&errors);
    }
    let preds = match predict(&s, &m, &records) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let n = preds.len();
    let c = m.shown_classes.len();
    let labels: Vec<&str> = preds
        .iter()
        .map(|(b, _)| b.map(|i| m.shown_classes[i].as_str()).unwrap_or(""))
        .collect();
    let probs: Vec<f64> = preds
        .iter()
        .flat_map(|(_, p)| p.probabilities.iter().copied())
        .collect();
    let mut outputs = vec![
        json!({"name": "label", "datatype": "BYTES", "shape": [n], "data": labels}),
        json!({"name": "probabilities", "datatype": "FP64", "shape": [n, c], "data": probs}),
    ];
    if s.cfg.min_confidence.is_some() {
        let abstained: Vec<bool> = preds.iter().map(|(b, _)| b.is_none()).collect();
        outputs.push(
            json!({"name": "abstained", "datatype": "BOOL", "shape": [n], "data": abstained}),
        );
    }
    let mut out = json!({
        "model_name": m.model.name,
        "model_version": m.model.version.to_string(),
        "outputs": outputs,
    });
    if let (Some(id), Some(o)) = (req.id, out.as_object_mut()) {
        o.insert("id".into(), Value::String(id));
    }
    hand_over(&s, &m, client, records, &preds);
    Json(out).into_response()
}

/// `POST /v2/models/{name}/infer`: an Open Inference Protocol request
/// (JSON, or with the binary tensor extension) scored by the served
/// version: one tensor per feature, or one `[N, F]` tensor in the model's
/// input order. Answers the `label` and `probabilities` outputs, and
/// `abstained` when a confidence floor is set; 400 for invalid tensors or
/// inputs, every error listed.
pub async fn infer(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    client: Option<Extension<Client>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    infer_inner(s, name, None, client, headers, body).await
}

/// `POST /v2/models/{name}/versions/{version}/infer`: as [`infer`], and
/// 404 unless `version` is the one served.
pub async fn infer_version(
    State(s): State<Arc<Shared>>,
    Path((name, version)): Path<(String, String)>,
    client: Option<Extension<Client>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    infer_inner(s, name, Some(version), client, headers, body).await
}

/// `GET /metrics`: every metric in the OpenMetrics text format.
pub async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

/// Any path no route matches: 404 with a JSON error.
pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}

/// A known path asked with a method it does not take: 405 with a JSON
/// error.
pub async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method",
    )
}

/// `GET /openapi.json`: the OpenAPI document of this server, with each
/// served model's input schema.
pub async fn openapi(State(s): State<Arc<Shared>>) -> Response {
    let snap = s.current.get();
    Json(crate::openapi::document(&s, &snap)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_tensors_decode_by_datatype() {
        let fp32: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(
            decode_binary("FP32", &fp32).unwrap(),
            vec![json!(1.5), json!(-2.0)]
        );
        let i64s: Vec<u8> = [7i64, -1].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(
            decode_binary("INT64", &i64s).unwrap(),
            vec![json!(7), json!(-1)]
        );
        let mut bytes = Vec::new();
        for w in ["rent", "own"] {
            bytes.extend_from_slice(&(w.len() as u32).to_le_bytes());
            bytes.extend_from_slice(w.as_bytes());
        }
        assert_eq!(
            decode_binary("BYTES", &bytes).unwrap(),
            vec![json!("rent"), json!("own")]
        );
        assert!(decode_binary("FP32", &fp32[..5]).is_err());
        assert!(decode_binary("BYTES", &[9, 0, 0, 0, b'x']).is_err());
        assert!(decode_binary("BYTES", &[1, 0]).is_err());
        assert!(decode_binary("FP16", &[0, 0]).is_err());
        let nan = decode_binary("FP64", &f64::NAN.to_le_bytes()).unwrap_err();
        assert!(nan.contains("not a finite number"), "{nan}");
        assert!(decode_binary("FP32", &f32::INFINITY.to_le_bytes()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_body_is_an_answer_not_a_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            header in proptest::option::of(0usize..600),
        ) {
            let h = header.map(|n| n.to_string());
            let _ = parse_infer_body(h.as_deref(), &body);
        }

        #[test]
        fn binary_tensors_of_any_size_decode_or_refuse(
            datatype in proptest::sample::select(vec!["BOOL", "INT8", "UINT16", "INT32", "INT64", "FP32", "FP64", "BYTES", "FP16"]),
            raw in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            let _ = decode_binary(datatype, &raw);
        }
    }

    #[test]
    fn a_binary_body_is_split_by_its_header_length() {
        let head = br#"{"inputs":[{"name":"a","shape":[2],"datatype":"FP64","parameters":{"binary_data_size":16}}]}"#;
        let mut body = head.to_vec();
        for x in [1.0f64, 2.0] {
            body.extend_from_slice(&x.to_le_bytes());
        }
        let req = apply_binary(&head.len().to_string(), &Bytes::from(body.clone())).unwrap();
        assert_eq!(req.inputs[0].data, json!([1.0, 2.0]));
        assert!(apply_binary("9999", &Bytes::from(body.clone())).is_err());
        body.push(0);
        assert!(apply_binary(&head.len().to_string(), &Bytes::from(body)).is_err());
    }
}
