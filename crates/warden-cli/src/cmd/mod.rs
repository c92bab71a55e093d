//! One function per command: open the workspace, call the engine, print.

mod audit;
mod data;
mod eval;
mod gate;
mod hubclient;
mod keys;
mod model;
mod monitor;
mod pipeline;
mod privacy;
mod roles;
mod scan;
mod serve;

pub(crate) use data::entity_list;

use std::path::Path;
use std::process::ExitCode;

use warden::{OpenOptions, Workspace};
use warden_core::{ActorName, KeyName, VersionRef};
use zeroize::Zeroizing;

use crate::cli::{Cli, Command, Global};
use crate::exit;
use crate::output::{self, Failure};

pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let mut g = cli.global;
    if let Some(a) = acting_as(&cli.command) {
        g.actor = Some(a.to_string());
    }
    match cli.command {
        Command::Init {
            dir,
            store,
            blobs,
            blobs_endpoint,
            blobs_region,
            ..
        } => {
            let blobs = match (blobs, blobs_endpoint, blobs_region) {
                (None, None, None) => None,
                (None, _, _) => {
                    return Err(Failure::new(
                        exit::USAGE,
                        "--blobs-endpoint and --blobs-region go with --blobs s3://BUCKET/PREFIX",
                    ));
                }
                (Some(url), endpoint, region) => Some(warden::BlobsConfig {
                    url: Some(url),
                    endpoint,
                    region,
                }),
            };
            init(&g, &dir, store, blobs)
        }
        Command::Demo { keep, store, .. } => crate::demo::run(&g, keep.as_deref(), store),
        Command::Roles(c) => roles::run(&g, c),
        Command::Keys(c) => keys::run(&g, c),
        Command::Audit(c) => audit::run(&g, c),
        Command::Data(c) => data::run(&g, *c),
        Command::Example(c) => data::example(&g, c),
        Command::Privacy(c) => privacy::run(&g, c),
        Command::Train(a) => model::train(&g, *a),
        Command::Model(c) => model::run(&g, c),
        Command::Eval(a) => eval::run(&g, *a),
        Command::Gate {
            model,
            env,
            input_out,
            ..
        } => gate::gate(&g, &model, &env, input_out.as_deref()),
        Command::Promote { model, to, .. } => gate::promote(&g, &model, &to),
        Command::Policy(crate::cli::PolicyCmd::Test { .. }) => gate::policy_test(&g),
        Command::Policy(crate::cli::PolicyCmd::Register { scope, .. }) => {
            gate::policy_register(&g, &scope)
        }
        Command::Policy(crate::cli::PolicyCmd::Status { .. }) => gate::policy_status(&g),
        Command::Approve {
            model,
            env,
            key,
            comment,
            ..
        } => gate::approve(&g, &model, &env, &key, comment.as_deref()),
        Command::Quarantine { model, reason, .. } => gate::quarantine(&g, &model, &reason),
        Command::Release { model, reason, .. } => gate::release(&g, &model, &reason),
        Command::Rollback { model, env, .. } => gate::rollback(&g, &model, &env),
        Command::Incident(c) => gate::incident(&g, c),
        Command::Pipeline(c) => pipeline::run(&g, c),
        Command::Evidence(c) => pipeline::evidence(&g, c),
        Command::Ci(c) => pipeline::ci(&g, c),
        Command::Monitor(c) => monitor::run(&g, c),
        Command::Scan(a) => scan::run(&g, *a),
        Command::Apikey(c) => keys::apikey(&g, c),
        Command::Login {
            url,
            token_file,
            token,
            vkey,
            device,
            issuer,
        } => {
            let how = if device {
                hubclient::LoginWith::Device {
                    issuer: issuer.as_deref(),
                }
            } else {
                hubclient::LoginWith::Token {
                    token,
                    token_file: token_file.as_deref(),
                }
            };
            hubclient::login(&g, &url, how, vkey.as_deref())
        }
        Command::Hub(crate::cli::HubCmd::Whoami) => hubclient::whoami(&g),
        Command::Hub(crate::cli::HubCmd::Rollback { model, env }) => {
            hubclient::rollback(&g, &model, &env)
        }
        Command::Hub(crate::cli::HubCmd::Quarantine { model, reason }) => {
            hubclient::quarantine(&g, &parse(&model, str::parse::<VersionRef>)?, &reason)
        }
        Command::Hub(crate::cli::HubCmd::Keys) => hubclient::keys(&g),
        Command::Hub(crate::cli::HubCmd::Evidence { model }) => {
            hubclient::evidence(&g, &parse(&model, str::parse::<VersionRef>)?)
        }
        Command::Hub(crate::cli::HubCmd::Ingest {
            file,
            name,
            pin,
            schema,
            target,
            features,
            sensitive,
            id,
            pii_policy,
            no_screen,
            max_label_noise,
            drop_suspects,
            csv,
        }) => {
            // Checked here, as `data ingest` would, before anything is sent.
            data::csv_options(&csv)?;
            let request = warden::api::DatasetUpload {
                target,
                features,
                sensitive,
                id,
                no_screen,
                max_label_noise,
                drop_suspects,
                delimiter: Some(csv.delimiter),
                trim: csv.trim,
                missing: (!csv.missing.is_empty()).then_some(csv.missing),
                max_field_bytes: Some(csv.max_field_bytes as u64),
                ..Default::default()
            };
            hubclient::ingest(
                &g,
                &file,
                hubclient::IngestArgs {
                    name,
                    pin,
                    schema,
                    pii_policy,
                    request,
                },
            )
        }
        Command::Hub(crate::cli::HubCmd::Import {
            file,
            name,
            schema,
            check,
            check_tolerance,
            dataset,
        }) => hubclient::import(
            &g,
            &file,
            hubclient::ImportArgs {
                name,
                schema,
                check,
                check_tolerance,
                dataset,
            },
        ),
        Command::Hub(crate::cli::HubCmd::TokenCreate {
            name,
            roles,
            expires,
        }) => hubclient::token_create(&g, &name, &roles, &expires),
        Command::Hub(crate::cli::HubCmd::Tokens) => hubclient::tokens(&g),
        Command::Hub(crate::cli::HubCmd::ApikeyCreate {
            name,
            role,
            expires,
            rate_limit,
        }) => hubclient::apikey_create(&g, &name, &role, expires.as_deref(), rate_limit),
        Command::Hub(crate::cli::HubCmd::Apikeys) => hubclient::apikeys(&g),
        Command::Hub(crate::cli::HubCmd::ApikeyRevoke { name }) => {
            hubclient::apikey_revoke(&g, &name)
        }
        Command::Hub(crate::cli::HubCmd::Roles {
            grant,
            revoke,
            role,
        }) => hubclient::roles(&g, grant.as_deref(), revoke.as_deref(), role.as_deref()),
        Command::Hub(crate::cli::HubCmd::Audit { action, by, limit }) => {
            hubclient::audit(&g, action.as_deref(), by.as_deref(), limit)
        }
        Command::Hub(crate::cli::HubCmd::TokenRevoke { name }) => {
            hubclient::token_revoke(&g, &name)
        }
        Command::Hub(crate::cli::HubCmd::Models { name }) => hubclient::models(&g, name.as_deref()),
        Command::Hub(crate::cli::HubCmd::EvidenceAdd {
            model,
            tool,
            kind,
            report,
        }) => hubclient::evidence_add(
            &g,
            &parse(&model, str::parse::<VersionRef>)?,
            &tool,
            kind.as_deref(),
            &report,
        ),
        Command::Hub(crate::cli::HubCmd::Pipelines { id }) => hubclient::pipelines(&g, id),
        Command::Hub(crate::cli::HubCmd::Promote { model, env }) => {
            hubclient::promote(&g, &parse(&model, str::parse::<VersionRef>)?, &env)
        }
        Command::Hub(crate::cli::HubCmd::KeysEnrol { name, key_type }) => {
            let algorithm: warden::Algorithm = key_type
                .parse()
                .map_err(|e: warden::KeyError| Failure::new(exit::USAGE, e.to_string()))?;
            hubclient::keys_enrol(&g, &parse(&name, KeyName::new)?, algorithm)
        }
        Command::Hub(crate::cli::HubCmd::KeysAcknowledge { name }) => {
            hubclient::keys_acknowledge(&g, &parse(&name, KeyName::new)?)
        }
        Command::Hub(crate::cli::HubCmd::Approve {
            model,
            env,
            key,
            comment,
        }) => hubclient::approve(
            &g,
            &parse(&model, str::parse::<VersionRef>)?,
            &env,
            &parse(&key, KeyName::new)?,
            comment.as_deref(),
        ),
        Command::Hub(crate::cli::HubCmd::Serve {
            config,
            addr,
            tls_cert,
            tls_key,
            ..
        }) => serve::hub(
            &g,
            serve::HubFlags {
                config,
                addr,
                tls_cert,
                tls_key,
            },
        ),
        Command::Serve {
            env,
            addr,
            config,
            tls_cert,
            tls_key,
            tls_client_ca,
            hub: Some(hub),
            trust_key,
            ..
        } => serve::replica(
            &g,
            &hub,
            &trust_key,
            serve::Flags {
                env,
                addr,
                config,
                tls_cert,
                tls_key,
                tls_client_ca,
            },
        ),
        Command::Serve {
            env,
            addr,
            config,
            tls_cert,
            tls_key,
            tls_client_ca,
            ..
        } => serve::run(
            &g,
            serve::Flags {
                env,
                addr,
                config,
                tls_cert,
                tls_key,
                tls_client_ca,
            },
        ),
        Command::Migrate { to, .. } => {
            let ws = workspace(&g)?;
            let m = ws.migrate_store(&to)?;
            if g.json {
                output::json(&m)?;
            } else {
                if let (Some(to), Some(copy)) = (&m.to_store, &m.copy) {
                    println!("Migrated the metadata to PostgreSQL at {to}");
                    for t in &copy.tables {
                        println!("  {:<20} {:>8} rows", t.table, t.rows);
                    }
                    println!(
                        "  audit log            {} events, root {} (equal in both stores)",
                        copy.log_size, copy.log_root
                    );
                }
                if let (Some(to), Some(n), Some(bytes)) = (&m.to_blobs, m.blobs, m.blob_bytes) {
                    println!(
                        "Migrated the blobs to {to}: {n} blobs, {bytes} bytes, each read back and its digest checked"
                    );
                }
                println!(
                    "  recorded             event {} (workspace.migrate)",
                    m.event_seq
                );
                println!(
                    "warden.toml now names the new store(s); no longer used (keep as the way back): {}",
                    m.left_in_place.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ThreatModel { format, .. } => {
            let risks = workspace(&g)?.threat_model()?;
            if g.json || format == "json" {
                output::json(&risks)?;
            } else if format == "csv" {
                print!("{}", warden::risks_csv(&risks));
            } else {
                print!("{}", warden::risks_markdown(&risks));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Lineage { model, dot, .. } => {
            let ws = workspace(&g)?;
            let l = ws.model_lineage(&data::version_ref(&model)?)?;
            if g.json {
                output::json(&l)?;
            } else if dot {
                print!("{}", l.to_dot());
            } else {
                print!("{}", l.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign {
            path,
            key,
            signature,
            shard_size,
            ..
        } => {
            let ws = workspace(&g)?;
            let sig = signature.unwrap_or_else(|| warden::default_signature_path(&path));
            let bar = output::ByteBar::new(g.json, "hashing");
            let v = ws.sign_model(
                &path,
                &parse(&key, warden_core::KeyName::new)?,
                &sig,
                shard_size,
                Some(&|d, t| bar.update(d, t)),
            );
            bar.finish();
            let v = v?;
            if g.json {
                output::json(&v)?;
            } else {
                println!(
                    "Signed {} ({}, root sha256:{}) with key {}",
                    v.path,
                    files(v.files),
                    v.root_digest,
                    v.key
                );
                println!("  signature  {}", v.signature);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            path,
            signature,
            key,
            provenance,
            ..
        } => {
            let sig = signature.unwrap_or_else(|| warden::default_signature_path(&path));
            let bar = output::ByteBar::new(g.json, "hashing");
            let progress = |d, t| bar.update(d, t);
            let ws = match key {
                Some(_) => None,
                None => Some(workspace(&g)?),
            };
            let v = match (&key, &ws) {
                (Some(k), _) => warden::verify_with_key_file(&path, &sig, k, Some(&progress)),
                (None, Some(ws)) => ws.verify_model(&path, &sig, Some(&progress)),
                (None, None) => Err(warden::Error::Usage("no workspace".into())),
            };
            bar.finish();
            let v = v?;
            let slsa = if provenance {
                Some(match (&key, &ws) {
                    (Some(k), _) => {
                        let pem = std::fs::read_to_string(k).map_err(|e| {
                            Failure::new(exit::ERROR, format!("{}: {e}", k.display()))
                        })?;
                        Workspace::verify_provenance_dir(&path, &pem)?
                    }
                    (None, Some(ws)) => ws.verify_provenance_with_key(&path, &v.key)?,
                    (None, None) => return Err(Failure::new(exit::USAGE, "no workspace")),
                })
            } else {
                None
            };
            if g.json {
                let mut out = serde_json::to_value(&v)
                    .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
                if let Some(st) = &slsa {
                    out["provenance"] = serde_json::to_value(st)
                        .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
                }
                output::json(&out)?;
            } else {
                println!(
                    "Verified {} ({}, root sha256:{}) with key {}",
                    v.path,
                    files(v.files),
                    v.root_digest,
                    v.key
                );
                if let Some(st) = &slsa {
                    let b = &st.predicate.build_definition;
                    let deps = b
                        .resolved_dependencies
                        .iter()
                        .filter_map(|x| x.name.as_deref())
                        .collect::<Vec<_>>()
                        .join(", ");
                    println!(
                        "  provenance SLSA v1, signed by the same key: {} ran {} in {} ({})",
                        b.external_parameters.pipeline,
                        serde_json::json!(b.external_parameters.command),
                        b.internal_parameters.sandbox,
                        deps
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// An `--actor` given after the subcommand, which wins over the top-level one.
fn acting_as(c: &Command) -> Option<&str> {
    use crate::cli::{AuditCmd as A, DataCmd as D, KeysCmd as K, RolesCmd as R};
    let acting = match c {
        Command::Init { acting, .. } | Command::Demo { acting, .. } => acting,
        Command::Roles(R::Grant { acting, .. } | R::Revoke { acting, .. } | R::List { acting }) => {
            acting
        }
        Command::Keys(
            K::Generate { acting, .. }
            | K::Enrol { acting, .. }
            | K::Acknowledge { acting, .. }
            | K::List { acting }
            | K::ExportPublic { acting, .. }
            | K::Trust { acting, .. }
            | K::Revoke { acting, .. },
        ) => acting,
        Command::Audit(
            A::Verify { acting, .. }
            | A::Proof { acting, .. }
            | A::CheckProof { acting, .. }
            | A::Witness { acting, .. },
        ) => acting,
        Command::Audit(A::Log { .. } | A::WitnessKey { .. }) => return None,
        Command::Data(d) => match d.as_ref() {
            D::Ingest { acting, .. }
            | D::List { acting }
            | D::Show { acting, .. }
            | D::Lineage { acting, .. } => acting,
            D::Profile { .. } => return None,
        },
        Command::Example(_) | Command::Privacy(_) | Command::Ci(_) => return None,
        // The hub's clients act as the principal their token proves.
        Command::Login { .. }
        | Command::Hub(
            crate::cli::HubCmd::Whoami
            | crate::cli::HubCmd::Ingest { .. }
            | crate::cli::HubCmd::Rollback { .. }
            | crate::cli::HubCmd::Quarantine { .. }
            | crate::cli::HubCmd::Keys
            | crate::cli::HubCmd::Evidence { .. }
            | crate::cli::HubCmd::Import { .. }
            | crate::cli::HubCmd::Models { .. }
            | crate::cli::HubCmd::Promote { .. }
            | crate::cli::HubCmd::KeysEnrol { .. }
            | crate::cli::HubCmd::KeysAcknowledge { .. }
            | crate::cli::HubCmd::Approve { .. }
            | crate::cli::HubCmd::TokenCreate { .. }
            | crate::cli::HubCmd::Tokens
            | crate::cli::HubCmd::ApikeyCreate { .. }
            | crate::cli::HubCmd::Apikeys
            | crate::cli::HubCmd::ApikeyRevoke { .. }
            | crate::cli::HubCmd::EvidenceAdd { .. }
            | crate::cli::HubCmd::Pipelines { .. }
            | crate::cli::HubCmd::TokenRevoke { .. }
            | crate::cli::HubCmd::Roles { .. }
            | crate::cli::HubCmd::Audit { .. },
        ) => return None,
        Command::Scan(a) => &a.acting,
        Command::Apikey(
            crate::cli::ApikeyCmd::Create { acting, .. }
            | crate::cli::ApikeyCmd::List { acting }
            | crate::cli::ApikeyCmd::Revoke { acting, .. }
            | crate::cli::ApikeyCmd::Block { acting, .. }
            | crate::cli::ApikeyCmd::Throttle { acting, .. }
            | crate::cli::ApikeyCmd::Unblock { acting, .. },
        ) => acting,
        Command::Sign { acting, .. } | Command::Verify { acting, .. } => acting,
        Command::Train(a) => &a.acting,
        Command::Eval(a) => &a.acting,
        Command::Gate { acting, .. }
        | Command::Promote { acting, .. }
        | Command::Policy(crate::cli::PolicyCmd::Test { acting })
        | Command::Policy(crate::cli::PolicyCmd::Register { acting, .. })
        | Command::Policy(crate::cli::PolicyCmd::Status { acting })
        | Command::Approve { acting, .. }
        | Command::Quarantine { acting, .. }
        | Command::Release { acting, .. }
        | Command::Rollback { acting, .. }
        | Command::Serve { acting, .. }
        | Command::Hub(crate::cli::HubCmd::Serve { acting, .. })
        | Command::Lineage { acting, .. }
        | Command::ThreatModel { acting, .. }
        | Command::Migrate { acting, .. } => acting,
        Command::Monitor(
            crate::cli::MonitorCmd::Drift { acting, .. }
            | crate::cli::MonitorCmd::Pause { acting, .. }
            | crate::cli::MonitorCmd::Resume { acting, .. }
            | crate::cli::MonitorCmd::Status { acting, .. },
        ) => acting,
        Command::Pipeline(
            crate::cli::PipelineCmd::Plan { acting, .. }
            | crate::cli::PipelineCmd::Run { acting, .. }
            | crate::cli::PipelineCmd::List { acting, .. }
            | crate::cli::PipelineCmd::Show { acting, .. },
        ) => acting,
        Command::Evidence(
            crate::cli::EvidenceCmd::Add { acting, .. }
            | crate::cli::EvidenceCmd::List { acting, .. },
        ) => acting,
        Command::Incident(
            crate::cli::IncidentCmd::Open { acting, .. }
            | crate::cli::IncidentCmd::List { acting }
            | crate::cli::IncidentCmd::Show { acting, .. }
            | crate::cli::IncidentCmd::Close { acting, .. },
        ) => acting,
        Command::Model(
            crate::cli::ModelCmd::List { acting }
            | crate::cli::ModelCmd::Show { acting, .. }
            | crate::cli::ModelCmd::Export { acting, .. }
            | crate::cli::ModelCmd::Predict { acting, .. }
            | crate::cli::ModelCmd::Import { acting, .. }
            | crate::cli::ModelCmd::Card { acting, .. }
            | crate::cli::ModelCmd::Passport { acting, .. }
            | crate::cli::ModelCmd::Bom { acting, .. },
        ) => acting,
    };
    acting.actor.as_deref()
}

/// The acting actor: `--actor`, `WARDEN_ACTOR`, else the OS user.
pub fn actor(g: &Global) -> Result<ActorName, Failure> {
    let (name, source) = match &g.actor {
        Some(a) => (a.clone(), "--actor / WARDEN_ACTOR"),
        None => match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
            Ok(u) if !u.is_empty() => (u, "the operating-system user ($USER)"),
            _ => {
                return Err(Failure::new(
                    exit::USAGE,
                    "cannot tell who is acting: $USER is not set",
                )
                .with_hint("pass --actor NAME or set WARDEN_ACTOR"));
            }
        },
    };
    ActorName::new(&name).map_err(|e| {
        Failure::new(exit::USAGE, format!("{e} (from {source})"))
            .with_hint("pass a valid --actor NAME")
    })
}

pub fn open_options() -> OpenOptions {
    OpenOptions {
        passphrase: std::env::var("WARDEN_KEY_PASSPHRASE")
            .ok()
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new),
        user_dir: None,
        store_url: None,
        blobs: None,
    }
}

/// "1 file", "3 files".
fn files(n: usize) -> String {
    match n {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    }
}

/// Opens the workspace named by `--workspace`, or the nearest one upwards.
pub fn workspace(g: &Global) -> Result<Workspace, Failure> {
    let actor = actor(g)?;
    let ws = match &g.workspace {
        Some(dir) => Workspace::open(dir, actor, &open_options())?,
        None => Workspace::discover(Path::new("."), actor, &open_options())?,
    };
    Ok(ws)
}

fn init(
    g: &Global,
    dir: &Path,
    store: Option<String>,
    blobs: Option<warden::BlobsConfig>,
) -> Result<ExitCode, Failure> {
    let actor = actor(g)?;
    let opts = OpenOptions {
        store_url: store,
        blobs,
        ..open_options()
    };
    let ws = Workspace::init(dir, actor, &opts)?;
    let store = ws.config().store.url.clone();
    let blobs = ws.config().blobs.url.clone();
    if g.json {
        output::json(&serde_json::json!({
            "workspace": ws.root().display().to_string(),
            "admin": ws.actor(),
            "store": store,
            "blobs": blobs,
        }))?;
    } else {
        println!("Created a Warden workspace in {}", ws.root().display());
        println!(
            "  config      {}",
            ws.root().join(warden::CONFIG_FILE).display()
        );
        println!(
            "  state       {}",
            ws.root().join(warden::WORKSPACE_DIR).display()
        );
        if let Some(url) = &store {
            println!("  metadata    {url}");
        }
        if let Some(url) = &blobs {
            println!("  blobs       {url}");
        }
        println!("  admin       {}", ws.actor());
        println!("Next: `warden roles grant ACTOR ROLE`, `warden keys generate pipeline`.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses a name argument, as a usage error naming the argument.
pub fn parse<T>(
    value: &str,
    parse: fn(&str) -> Result<T, warden_core::NameError>,
) -> Result<T, Failure> {
    parse(value).map_err(|e| Failure::new(exit::USAGE, e.to_string()))
}
