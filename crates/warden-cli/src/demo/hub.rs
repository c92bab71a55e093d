//! The demo's hub step: the workspace served by `warden hub serve` on
//! 127.0.0.1, trusting a TEST-ONLY identity provider made here (its key is
//! generated when the step starts and thrown away after). A person and a
//! CI pipeline prove who they are with its tokens; an impersonation and a
//! self-approval are refused; an approver signs on her own machine.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use warden::hubclient::{self, TestIssuer};
use warden::{OpenOptions, Workspace};
use warden_core::{ActorName, RoleName, VersionRef};

use crate::exit;
use crate::output::Failure;

fn fail(m: impl std::fmt::Display) -> Failure {
    Failure::new(exit::ERROR, format!("hub demo: {m}"))
}

const ISSUER: &str = "https://idp.demo.invalid/";
const CI_ISSUER: &str = "https://ci.demo.invalid/";
const AUDIENCE: &str = "warden-hub";

/// What the step saw, line by line.
pub struct Outcome {
    pub lines: Vec<String>,
}

/// An answer's status and its body as JSON (`null` when it is not JSON).
fn answer(mut r: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = r.status().as_u16();
    let v = r
        .body_mut()
        .read_to_string()
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (status, v)
}

struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), Failure> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let sent = match method {
            "GET" => self.agent.get(&url).header("authorization", &auth).call(),
            _ => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        };
        Ok(answer(sent.map_err(fail)?))
    }

    /// A `multipart/form-data` POST of `(name, file name, bytes)` parts.
    fn upload(
        &self,
        path: &str,
        token: &str,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Result<(u16, Value), Failure> {
        let boundary = "warden-demo-upload-5c1e";
        let mut body = Vec::new();
        for (name, file, bytes) in parts {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"")
                    .as_bytes(),
            );
            if let Some(f) = file {
                body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let url = format!("{}{path}", self.base);
        let r = self
            .agent
            .post(&url)
            .header("authorization", &format!("Bearer {token}"))
            .header(
                "content-type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send(&body[..])
            .map_err(fail)?;
        Ok(answer(r))
    }

    /// A call that must answer `want`.
    fn expect(
        &self,
        want: u16,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let (status, v) = self.call(method, path, token, body)?;
        if status != want {
            return Err(fail(format!(
                "{method} {path}: expected {want}, got {status}: {v}"
            )));
        }
        Ok(v)
    }
}

/// Runs the step; `dataset` is what the author trains on, `model` the name.
pub fn run(
    dir: &Path,
    opts: &OpenOptions,
    people: &Path,
    dataset: &VersionRef,
    model: &warden_core::ObjectName,
    threads: usize,
) -> Result<Outcome, Failure> {
    let mut lines = Vec::new();
    let corp = TestIssuer::new(ISSUER)?;
    let ci = TestIssuer::new(CI_ISSUER)?;
    let issuer_dir = people.join("test-issuer");
    std::fs::create_dir_all(&issuer_dir).map_err(fail)?;
    std::fs::write(issuer_dir.join("corp-jwks.json"), corp.jwks().to_string()).map_err(fail)?;
    std::fs::write(issuer_dir.join("ci-jwks.json"), ci.jwks().to_string()).map_err(fail)?;
    let hub_toml = issuer_dir.join("hub.toml");
    let text = format!(
        "addr = \"127.0.0.1:0\"\nreload_interval_seconds = 0.5\n\
         [[issuer]]\nname = \"corp\"\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"corp-jwks.json\"\n\
         algorithms = [\"ES256\"]\nprincipal_claim = \"email\"\n\
         [[issuer]]\nname = \"ci\"\nissuer = \"{CI_ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"ci-jwks.json\"\n\
         algorithms = [\"ES256\"]\n[[issuer.group]]\nname = \"ci-main\"\n\
         claims = {{ repository = \"acme/credit\", ref = \"refs/heads/main\", ref_protected = \"true\" }}\n"
    );
    std::fs::write(&hub_toml, &text).map_err(fail)?;
    let cfg = warden_server::hub::config_from_toml(&text, &hub_toml).map_err(fail)?;

    // The admin grants roles to principals and to the CI group, locally.
    let ana = Workspace::open(dir, ActorName::new("ana").map_err(fail)?, opts)?;
    for (who, role) in [
        ("corp.lee@example.com", "approver"),
        ("corp.mia@example.com", "ml-engineer"),
        ("corp.mia@example.com", "approver"),
        ("corp.ana@example.com", "admin"),
        ("group.ci-main", "operator"),
    ] {
        ana.roles_grant(
            &ActorName::new(who).map_err(fail)?,
            &RoleName::new(role).map_err(fail)?,
        )?;
    }
    // Mia, an ML engineer, trains a model on the hub's machine: she is its author.
    let mia_ws = Workspace::open(
        dir,
        ActorName::new("corp.mia@example.com").map_err(fail)?,
        opts,
    )?;
    let trained = mia_ws.train(
        &warden::TrainRequest {
            dataset: dataset.clone(),
            target: None,
            features: None,
            name: model.clone(),
            config: warden::train::TrainConfig::defaults(warden::train::ModelKind::Logreg, None),
            threads,
        },
        &mut |_, _| {},
    )?;
    let mias: VersionRef = trained
        .model
        .reference()
        .parse()
        .map_err(|e: warden_core::NameError| fail(e))?;
    let version = mias
        .version
        .ok_or_else(|| fail("the trained model has no version"))?;

    let server_ws = Workspace::open(dir, ActorName::new("omar").map_err(fail)?, opts)?;
    server_ws.authorize_hub()?;
    let sink: warden_server::EventSink = std::sync::Arc::new(|_line: String| {});
    let server = super::InProcess::start(server_ws, opts, cfg, sink).map_err(fail)?;
    let addr = server.addr;
    let result = (|| -> Result<(), Failure> {
        let c = Client {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(20)))
                .http_status_as_error(false)
                .build()
                .into(),
            base: format!("http://{addr}"),
        };
        lines.push(format!(
            "hub         http://{addr} (a TEST-ONLY identity provider's keys, made for this run)"
        ));
        let team = "/api/v1/teams/default";
        let person = |who: &str| {
            corp.token(
                AUDIENCE,
                &json!({"sub": who, "email": format!("{who}@example.com")}),
                600,
            )
        };
        let (lee, mia, ana_t) = (person("lee"), person("mia"), person("ana"));

        // A pipeline on the protected main branch, and one on a fork.
        let main = ci.token(
            AUDIENCE,
            &json!({"sub": "repo:acme/credit:ref:refs/heads/main", "repository": "acme/credit",
                    "ref": "refs/heads/main", "ref_protected": true}),
            600,
        );
        let me: warden::api::Whoami =
            serde_json::from_value(c.expect(200, "GET", "/api/v1/whoami", &main, None)?)
                .map_err(fail)?;
        lines.push(format!(
            "ci          {} in {} → roles {}",
            me.principal.as_deref().unwrap_or("?"),
            json!(me.groups),
            json!(me.roles)
        ));
        let fork = ci.token(
            AUDIENCE,
            &json!({"sub": "repo:mallory/credit:ref:refs/heads/main", "repository": "mallory/credit",
                    "ref": "refs/heads/main", "ref_protected": true}),
            600,
        );
        let (status, _) = c.call("GET", &format!("{team}/models"), &fork, None)?;
        if status != 403 {
            return Err(fail(format!(
                "a fork's pipeline read the registry ({status})"
            )));
        }
        lines.push(
            "ci          a fork's pipeline holds no role: reading the registry is refused (403)"
                .into(),
        );

        // Uploads: a CSV sent from a person's machine becomes a dataset
        // version on the hub, ingested as that person and checked against
        // the digest her machine computed; a pipeline whose roles do not
        // include ingesting is refused before the body is read.
        let mut csv = Vec::new();
        warden::table::generate_credit(
            &warden::table::CreditOptions {
                rows: 2000,
                seed: 11,
                ..Default::default()
            },
            &mut csv,
        )
        .map_err(fail)?;
        let request = json!({
            "sha256": warden_core::Digest::of(&csv).hex(),
            "source": "credit-q3.csv",
            "target": "approved",
            "id": "customer_id",
            "sensitive": ["sex", "age_band"],
        })
        .to_string();
        let parts = [
            ("request", None, request.as_bytes()),
            ("data", Some("credit-q3.csv"), &csv[..]),
        ];
        let upload_path = format!("{team}/datasets/credit-q3/versions");
        let (status, _) = c.upload(&upload_path, &main, &parts)?;
        if status != 403 {
            return Err(fail(format!(
                "an operator pipeline ingested a dataset ({status})"
            )));
        }
        let (status, v) = c.upload(&upload_path, &ana_t, &parts)?;
        if status != 201 {
            return Err(fail(format!(
                "the dataset upload was refused ({status}): {v}"
            )));
        }
        lines.push(format!(
            "upload      credit-q3@{} ingested on the hub as corp.ana@example.com from {} bytes her machine hashed; the CI pipeline (operator) may not ingest (403)",
            v["dataset"]["version"],
            csv.len()
        ));

        // Impersonation: a token naming lee, signed by a key the hub does not trust.
        let mallory = TestIssuer::new(ISSUER)?;
        let forged = mallory.token(
            AUDIENCE,
            &json!({"sub": "lee", "email": "lee@example.com"}),
            600,
        );
        let (status, v) = c.call("GET", "/api/v1/whoami", &forged, None)?;
        if status != 401 {
            return Err(fail(format!("a forged token was accepted ({status})")));
        }
        lines.push(format!(
            "forged      a token claiming lee@example.com, signed by another key: {} ({status})",
            refusal(v)
        ));

        // Approval keys are made on each person's machine; the hub gets the public half.
        for (who, token) in [("mia", &mia), ("lee", &lee)] {
            let home = people.join(format!("{who}-laptop"));
            let key_name = warden_core::KeyName::new(&format!("{who}-approval")).map_err(fail)?;
            let (pem, _) = hubclient::new_approval_key(
                &hubclient::approval_key_path(&home, &key_name),
                warden::Algorithm::Ed25519,
                None,
            )?;
            c.expect(
                201,
                "POST",
                &format!("{team}/keys"),
                token,
                Some(json!({"name": key_name, "public_pem": pem})),
            )?;
            c.expect(
                200,
                "POST",
                &format!("{team}/keys/{key_name}/acknowledge"),
                &ana_t,
                None,
            )?;
        }
        let m = c.expect(
            200,
            "GET",
            &format!("{team}/models/{}/versions/{version}", mias.name),
            &lee,
            None,
        )?;
        let digest = serde_json::from_value::<warden::ModelInfo>(m)
            .map_err(fail)?
            .record
            .digest;
        let approve = |who: &str, token: &str| -> Result<(u16, Value), Failure> {
            let home = people.join(format!("{who}-laptop"));
            let key_name = warden_core::KeyName::new(&format!("{who}-approval")).map_err(fail)?;
            let principal = ActorName::new(&format!("corp.{who}@example.com")).map_err(fail)?;
            let statement = warden::approval_statement(
                mias.name.as_str(),
                version,
                &digest,
                "production",
                &principal,
                Some("demo review"),
                &warden_core::Timestamp::now(),
            );
            let (envelope, _) = hubclient::sign_approval_with(
                &hubclient::approval_key_path(&home, &key_name),
                None,
                &statement,
            )?;
            c.call(
                "POST",
                &format!("{team}/models/{}/versions/{version}/approvals", mias.name),
                token,
                Some(json!({"env": "production", "envelope": envelope})),
            )
        };
        let (status, v) = approve("mia", &mia)?;
        if status == 201 {
            return Err(fail("the author approved her own model"));
        }
        lines.push(format!(
            "self        corp.mia@example.com approving {mias}, which she trained: {} ({status})",
            refusal(v)
        ));
        let (status, v) = approve("lee", &lee)?;
        if status != 201 {
            return Err(fail(format!("lee's approval was refused ({status}): {v}")));
        }
        let approved: warden::Approved = serde_json::from_value(v).map_err(fail)?;
        lines.push(format!(
            "approved    {mias} for production by corp.lee@example.com, signed on lee's machine (key {})",
            approved.key_id
        ));
        // The web console: lee's session (the token the console's sign-in
        // would have set) opens the version page; a page is never opened by
        // a bearer token, and lee's roles do not reach the audit log.
        let page = |path: &str, cookie: Option<&str>| -> Result<(u16, String), Failure> {
            let mut req = c.agent.get(&format!("{}{path}", c.base));
            if let Some(t) = cookie {
                req = req.header(
                    "cookie",
                    &format!("{}={t}", warden_server::console::SESSION_COOKIE),
                );
            }
            let mut r = req.call().map_err(fail)?;
            Ok((
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            ))
        };
        let version_page = format!("/console/models/{}/versions/{version}", mias.name);
        let (status, body) = page(&version_page, Some(&lee))?;
        if status != 200 || !body.contains("Gate, environment by environment") {
            return Err(fail(format!(
                "the console's version page answered {status}"
            )));
        }
        let (_, anonymous) = page(&version_page, None)?;
        if !anonymous.contains("Sign in to Warden") {
            return Err(fail("the console opened a page without a session"));
        }
        let (status, _) = page("/console/", Some(&fork))?;
        if status != 403 {
            return Err(fail(format!(
                "a principal without a role opened the console ({status})"
            )));
        }
        lines.push(format!(
            "console     http://{addr}/console/: {mias}'s page opened as corp.lee@example.com; without a session, the sign-in page; a principal without a role is refused (403)"
        ));
        // A serving replica follows the hub's production environment with
        // the CI identity (an operator): no workspace, no key, no secret on
        // its side. The pipeline issues an inference key on the hub; the
        // replica asks the hub about it once.
        let v = c.expect(
            201,
            "POST",
            &format!("{team}/apikeys"),
            &main,
            Some(json!({"name": "demo-replica", "role": "predictor", "expires": "1d"})),
        )?;
        let issued: warden::api::ApiKeyIssued = serde_json::from_value(v).map_err(fail)?;
        let replica_cfg = warden_server::ServeConfig {
            env: "production".into(),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            reload_interval: Duration::from_millis(500),
            ..Default::default()
        };
        let link = warden_server::replica::HubLink::new(warden_server::replica::HubSettings {
            url: c.base.clone(),
            token: main.clone(),
            vkey: ana.audit_checkpoint()?.1,
            user_dir: people.join("replica"),
            env: "production".into(),
            trust: None,
        });
        let quiet: warden_server::EventSink = std::sync::Arc::new(|_line: String| {});
        let replica = super::InProcessReplica::start(link, replica_cfg, quiet).map_err(fail)?;
        let served = (|| -> Result<(String, String), Failure> {
            let url = format!("http://{}", replica.addr);
            let mut r = c
                .agent
                .get(&format!("{url}/v2/models/credit"))
                .header("Authorization", &format!("Bearer {}", issued.key))
                .call()
                .map_err(fail)?;
            let (status, m) = (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            );
            if status != 200 {
                return Err(fail(format!("the replica answered {status}: {m}")));
            }
            let m: Value = serde_json::from_str(&m).map_err(fail)?;
            let mut r = c
                .agent
                .post(&format!("{url}/v1/models/credit:predict"))
                .header("Authorization", &format!("Bearer {}", issued.key))
                .header("Content-Type", "application/json")
                .send(super::DEMO_REQUEST)
                .map_err(fail)?;
            let (status, p) = (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            );
            if status != 200 {
                return Err(fail(format!(
                    "the replica's prediction answered {status}: {p}"
                )));
            }
            let p: Value = serde_json::from_str(&p).map_err(fail)?;
            Ok((
                format!(
                    "credit@{}",
                    m["versions"].get(0).and_then(Value::as_str).unwrap_or("?")
                ),
                p["predictions"]
                    .get(0)
                    .map(Value::to_string)
                    .unwrap_or_default(),
            ))
        })();
        let stopped = replica.stop();
        let (model_served, prediction) = served?;
        stopped.map_err(fail)?;
        lines.push(format!(
            "replica     a serving replica followed production from the hub as the CI identity: it verified {model_served}'s package itself, and answered a key the pipeline made on the hub ({prediction})"
        ));
        let cp = hubclient::open_checkpoint(
            &c.agent
                .get(&format!("{}/checkpoint", c.base))
                .call()
                .map_err(fail)?
                .body_mut()
                .read_to_string()
                .map_err(fail)?,
            &ana.audit_checkpoint()?.1,
        )?;
        lines.push(format!(
            "checkpoint  the hub's log: {} events, root {} (every `warden hub` client checks it extends what it saw)",
            cp.size, cp.root
        ));
        Ok(())
    })();
    let stopped = server.stop();
    result?;
    stopped.map_err(fail)?;
    Ok(Outcome { lines })
}

/// The hub's message in a refusal's body.
fn refusal(v: Value) -> String {
    warden::api::ErrorBody::message_of(v).unwrap_or_else(|| "refused".to_string())
}
