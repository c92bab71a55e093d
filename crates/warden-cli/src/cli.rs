//! The command line, as clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes (the same for every command):
  0  ok
  1  error
  2  usage error (bad arguments, invalid names)
  3  not authorised by the workspace's authorisation policy
  4  denied by a policy gate
  5  verification failed (signature, digest, audit log, a registry row that disagrees
     with the audit log, a policy that is not the registered one)
  6  scan findings at or above the threshold
  7  drift found (monitor drift --fail-on-drift)";

/// Warden: verify, gate and record machine-learning models from dataset to traffic.
#[derive(Parser)]
#[command(name = "warden", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct Global {
    /// The workspace to use (default: the nearest directory upwards holding warden.toml and .warden/)
    #[arg(long, global = true, env = "WARDEN_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Who is acting (default: the operating-system user). Also accepted after
    /// the subcommand, except in `audit log`, where `--actor` filters events.
    #[arg(long, env = "WARDEN_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// Progress of long work on stderr: a bar on a terminal and a line every
    /// 10 seconds otherwise (auto), always lines (plain), or nothing (none)
    #[arg(
        long,
        global = true,
        env = "WARDEN_PROGRESS",
        value_enum,
        default_value = "auto"
    )]
    pub progress: ProgressArg,
}

/// How long work shows its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    Auto,
    Bar,
    Plain,
    None,
}

// `--actor` given after a subcommand. (A plain comment: a doc comment here
// would become the help text of every subcommand that has none.)
#[derive(Args, Clone, Default)]
pub struct ActingAs {
    /// Who is acting (default: WARDEN_ACTOR, else the operating-system user)
    #[arg(long = "actor", value_name = "NAME")]
    pub actor: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a workspace: warden.toml, the metadata store, blob store, keys and audit log
    #[command(
        after_help = "Examples:\n  warden init\n  warden init ./credit-models --actor ana\n  PGPASSWORD=... warden init ./registry --store 'postgres://warden@db.internal/warden?sslmode=require' \\\n      --blobs s3://models/registry --blobs-region eu-west-1\n\nThe actor who runs init becomes the workspace's first admin. init never overwrites an existing workspace, --store refuses a database that already holds a Warden store or other tables, and --blobs a bucket that does not take a write."
    )]
    Init {
        /// Directory to create the workspace in
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Keep the metadata in this PostgreSQL database instead of .warden/warden.db
        /// (no password in the URL: it goes into warden.toml; use PGPASSWORD)
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// Keep the blobs in this S3-compatible bucket (s3://BUCKET/PREFIX) instead of
        /// .warden/blobs; credentials from AWS_* variables or ~/.aws/credentials, never warden.toml
        #[arg(long, value_name = "URL")]
        blobs: Option<String>,
        /// The bucket's server (https://…; http:// only on 127.0.0.1), for storage other than AWS
        #[arg(long, value_name = "URL")]
        blobs_endpoint: Option<String>,
        /// The bucket's region (default AWS_REGION, else us-east-1)
        #[arg(long, value_name = "REGION")]
        blobs_region: Option<String>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Run every stage built so far on generated data, in a throwaway workspace
    #[command(
        after_help = "Examples:\n  warden demo\n  warden demo --keep ./demo-ws   # keep the workspace to explore it afterwards\n  PGPASSWORD=... warden demo --store postgres://warden@127.0.0.1/demo"
    )]
    Demo {
        /// Keep the workspace in DIR (which must not exist yet) instead of deleting it
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Keep the demo's metadata in this (empty) PostgreSQL database, as `init --store` does
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Grant, revoke and list roles
    #[command(subcommand)]
    Roles(RolesCmd),
    /// Generate, list, export, trust and revoke keys
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Read, verify and prove the tamper-evident audit log
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Ingest, profile and inspect datasets
    #[command(subcommand)]
    Data(Box<DataCmd>),
    /// Generate example data
    #[command(subcommand)]
    Example(ExampleCmd),
    /// Sign a model directory (OpenSSF model-signing format, ECDSA P-256 or P-384)
    #[command(
        after_help = "Examples:\n  warden sign ./model --key pipeline                 # writes ./model.sig\n  warden sign ./model --key pipeline --signature model.sig\n  warden sign ./llm --key pipeline --shard-size 1000000000   # 1 GB shards, hashed in parallel\n\nThe signature is a Sigstore bundle that `model_signing verify key` accepts."
    )]
    Sign {
        /// The model directory or file to sign
        path: PathBuf,
        /// A workspace key of type ecdsa-p256 or ecdsa-p384
        #[arg(long)]
        key: String,
        /// Where to write the signature (default: PATH.sig)
        #[arg(long, value_name = "FILE")]
        signature: Option<PathBuf>,
        /// Sign shards of this many bytes instead of whole files (model_signing's
        /// "shards" method), so one large file is hashed on every core
        #[arg(long, value_name = "BYTES")]
        shard_size: Option<u64>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Verify a model directory's OpenSSF model-signing signature; exit 5 if it does not verify
    #[command(
        after_help = "Examples:\n  warden verify ./model                              # against the workspace trust store\n  warden verify ./model --signature model.sig --key vendor.pub.pem   # no workspace needed\n\nEvery file must match; a changed, added or removed file is named. .git, .github,\n.gitattributes, .gitignore and the signature file itself are not part of the model."
    )]
    Verify {
        /// The model directory or file to verify
        path: PathBuf,
        /// The signature (default: PATH.sig)
        #[arg(long, value_name = "FILE")]
        signature: Option<PathBuf>,
        /// A public key PEM (P-256 or P-384) to verify with instead of the trust store
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Also check the package's SLSA provenance (provenance.dsse.json): signed by the same
        /// key, about the file the package was made from
        #[arg(long)]
        provenance: bool,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Plan differential-privacy budgets for DP-SGD (PLD accountant; RDP, as Opacus, for comparison)
    #[command(subcommand)]
    Privacy(PrivacyCmd),
    /// Train a model on a dataset version; the package is signed and registered as MODEL@N
    #[command(
        after_help = "Examples:\n  warden train --dataset credit@1 --target approved --model logreg --name credit\n  warden train --dataset credit@1 --model mlp --hidden 32,16 --epochs 30 --name credit-mlp --seed 7\n  warden train --dataset credit@1 --model logreg --name credit-dp --dp-epsilon 3 --dp-delta 1e-5 --max-grad-norm 1\n  warden train --dataset adult@1 --target Y --model logreg --name adult --json\n\nPreprocessing (fitted on the training split, shipped in the package): numeric features are\nmean-imputed and standardised; categorical ones are imputed with their most frequent level\nand one-hot encoded with an unknown bucket. Features default to the dataset's declared\nfeatures (free text left out); sensitive attributes are not features unless listed.\nLogistic regression without DP is fitted by L-BFGS (--l2 1 is scikit-learn's C=1); the MLP\nby Adam; with --dp-epsilon or --dp-noise, either by DP-SGD, and epsilon is reported by the PLD\naccountant (the RDP accountant's figure beside it). The same dataset, flags and seed give a byte-identical package on any thread\ncount. The package is signed with the pipeline key ([keys] pipeline in warden.toml).\nNeeds the ml-engineer or admin role."
    )]
    Train(Box<TrainArgs>),
    /// List, inspect, export and run registered models
    #[command(subcommand)]
    Model(ModelCmd),
    /// Measure a model on a dataset version (performance, fairness, privacy risk) and record it
    #[command(
        after_help = "Examples:\n  warden eval credit@1 --dataset credit@1\n  warden eval credit@2 --dataset credit@3 --sensitive sex --sensitive age_band --privileged sex=male --report ./eval\n  warden eval --predictions scored.csv --label y --prediction yhat --score p --sensitive sex --json\n\nPerformance: accuracy, balanced accuracy, precision/recall/F1 per class and macro, ROC AUC,\nPR AUC, log loss, Brier score, expected calibration error, confusion matrix, seeded bootstrap\n95% intervals (scikit-learn's definitions). Fairness, for each sensitive attribute and each\npair: per-group rates, demographic parity, equalized odds, equal opportunity, disparate\nimpact, average odds (fairlearn's and AIF360's definitions; with --privileged, AIF360's\nsigned forms). A figure whose denominator is empty is reported as undefined with the reason.\nRobustness (logreg, mlp): FGSM and PGD in standardised feature space, sensitive and --immutable\nfeatures frozen, one-hot columns fixed, training ranges kept, integers by whole units; exact\nclosed-form robust accuracy and minimal distance for binary logistic regression; HopSkipJump\n(decision-based) for any model, ONNX included, on the first 100 rows.\nPrivacy: membership inference (loss threshold, confidence) when the dataset is the model's own\ntraining dataset. The evaluation is recorded (model.evaluate) for the gates. Needs a role\nallowed model.evaluate (ml-engineer, admin); --predictions records nothing."
    )]
    Eval(Box<EvalArgs>),
    /// Ask an environment's gate about a model version (changes nothing); exit 4 if it denies
    #[command(
        after_help = "Examples:\n  warden gate credit@3 --env staging\n  warden gate credit@3 --env production --json\n  warden gate credit@3 --env dev --input-out input.json   # the policy input document\n\nThe gate is data.warden.gate.deny (bundled, or [gates] policy/data in warden.toml)\nevaluated over the policy input document built from the store; see docs/policy-input.md."
    )]
    Gate {
        /// The model version (MODEL@N)
        model: String,
        /// The environment whose gate is asked
        #[arg(long)]
        env: String,
        /// Write the policy input document to FILE
        #[arg(long, value_name = "FILE")]
        input_out: Option<PathBuf>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Move an environment's stage pointer to a model version, if its gate allows (exit 4 if not)
    #[command(
        after_help = "Examples:\n  warden promote credit@3 --to dev\n  warden promote credit@3 --to staging --json\n\nThe package is verified first (exit 5 if it does not). The gate decision is recorded either\nway (policy digest, input digest, outcome, reasons); only an allowed promotion moves the\npointer. Needs a role allowed model.promote (ml-engineer, operator, admin)."
    )]
    Promote {
        /// The model version (MODEL@N)
        model: String,
        /// The environment to promote to (dev, staging, production, ...)
        #[arg(long)]
        to: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Gate policy tools
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Sign an approval of a model version for an environment (approvers; never the author)
    #[command(
        after_help = "Examples:\n  warden --actor lee approve credit@3 --env production --key lee-approvals\n  warden --actor kim approve credit@3 --env production --key kim --comment \"fairness reviewed\"\n\nThe approval is a DSSE envelope over an in-toto statement (subject: the model's digest;\npredicate: environment, approver, comment), signed with one of this workspace's own keys.\nThe gate re-verifies it against the trust store every time (a revoked key voids it)."
    )]
    Approve {
        /// The model version to approve (MODEL@N)
        model: String,
        /// The environment the approval is for
        #[arg(long)]
        env: String,
        /// Your own approval key (enrolled with `warden keys enrol`, acknowledged by an admin)
        #[arg(long)]
        key: String,
        /// Why you approve (recorded in the signed statement)
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Take a model version out of every environment and block its promotion
    #[command(
        after_help = "Example:\n  warden quarantine credit@4 --reason \"label poisoning found in credit@2\""
    )]
    Quarantine {
        /// The model version (MODEL@N)
        model: String,
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Lift a quarantine (admin)
    #[command(
        after_help = "Example:\n  warden release credit@4 --reason \"false alarm: the flips were corrections\""
    )]
    Release {
        /// The quarantined model version (MODEL@N)
        model: String,
        /// Why it is safe again (recorded in the audit log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Move this workspace's metadata into PostgreSQL and/or its blobs into S3-compatible storage
    #[command(
        after_help = "Examples:\n  cat > scale.toml <<'EOF'\n  [store]\n  url = \"postgres://warden@db.internal:5432/warden?sslmode=require\"\n  [blobs]\n  url = \"s3://models-bucket/warden\"\n  EOF\n  PGPASSWORD=... AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... warden migrate --to scale.toml\n\nThe database must be empty. Every blob is copied and read back with its digest checked.\nEvery table is copied as stored (the audit log is moved, not replayed), then read back from\nboth stores and compared, and the log's root must match. Only then does warden.toml name the\nnew stores; the workspace.migrate event records the move. .warden/warden.db and\n.warden/blobs/ are left untouched (the way back: remove the new settings). Keys stay in\n.warden/keys/. Either table alone moves only that part. Needs the admin role."
    )]
    Migrate {
        /// A TOML file whose [store] url names the PostgreSQL database (no password: PGPASSWORD)
        #[arg(long, value_name = "CONFIG")]
        to: PathBuf,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// A STRIDE-LM threat model of this workspace: a risk register from its facts
    #[command(
        after_help = "Examples:\n  warden threat-model\n  warden threat-model --format csv > risks.csv\n  warden threat-model --format json\n\nEach threat (spoofing, tampering, repudiation, information disclosure, denial of service,\nelevation of privilege, lateral movement) gets a likelihood and impact from 1 to 3 and either\nthe control that mitigates it, with the evidence found in the workspace, or \"open\"."
    )]
    ThreatModel {
        /// Output format
        #[arg(long, default_value = "md", value_parser = ["md", "csv", "json"])]
        format: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Scan model files and source trees for hostile pickles, archive tricks, malformed headers and secrets
    #[command(
        after_help = "Examples:\n  warden scan model.pt                          # any format, recognised by content\n  warden scan ./models ./src --format sarif --output scan.sarif\n  warden scan pytorch_model.bin --profile torch --fail-on high\n  warden scan . --secrets --git-history         # secrets only, with every commit\n  warden scan credit@3 --record                 # a registered model; the gate sees the result\n\nFormats: pickle (protocols 0-5, several back to back), PyTorch zip and legacy, joblib (plain,\nzlib, gzip), NumPy .npy/.npz, safetensors, GGUF, ONNX, Keras .keras/.h5, TensorFlow SavedModel.\nA file of a format the scanner does not know is reported as unscanned, never as clean.\nProfiles (what a pickle may import): strict (containers and value types), numpy, torch,\nsklearn, auto (torch + sklearn + numpy, the default).\nAllow-list file (TOML; default .warden-scan.toml if present):\n  paths = [\"tests/fixtures/**\"]\n  fingerprints = [\"3f1c...\"]   # from a finding's fingerprint\n\nExit codes: 0 no finding at or above --fail-on, 6 findings at or above it,\n1 a file could not be read or the scan failed (never reported as clean)."
    )]
    Scan(Box<ScanArgs>),
    /// Create, list, revoke, block and throttle API keys for the serving endpoints
    #[command(subcommand)]
    Apikey(ApikeyCmd),
    /// Open, list, show and close incidents
    #[command(subcommand)]
    Incident(IncidentCmd),
    /// Run a pipeline file: ingest, train (yours, sandboxed), evaluate, scan, evidence, gate, promote
    #[command(subcommand)]
    Pipeline(PipelineCmd),
    /// Bind reports of other tools (SARIF: Bandit, Semgrep, Trivy; pip-audit JSON) to a model version
    #[command(subcommand)]
    Evidence(EvidenceCmd),
    /// Write a CI workflow that runs a pipeline file (GitHub Actions or GitLab CI)
    #[command(subcommand)]
    Ci(CiCmd),
    /// Drift of current data against a model's or dataset's reference; pause automated responses
    #[command(subcommand)]
    Monitor(MonitorCmd),
    /// The lineage of a model: package files, signature, dataset versions, tables, transforms, sources
    #[command(
        after_help = "Examples:\n  warden lineage credit@3\n  warden lineage credit@3 --json\n  warden lineage credit@3 --dot | dot -Tsvg > lineage.svg"
    )]
    Lineage {
        /// The model version (MODEL@N, or MODEL for the latest)
        model: String,
        /// Print Graphviz DOT
        #[arg(long)]
        dot: bool,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Serve the models an environment's stage pointers name, behind API keys, policy, rate limits and input validation
    #[command(
        after_help = "Examples:\n  warden serve --env production\n  warden serve --env staging --addr 0.0.0.0:8080 --config serve.toml\n  warden serve --env production --addr 0.0.0.0:8443 --tls-cert server.pem --tls-key server.key\n  KEY=$(warden apikey create web --role predictor --expires 30d)\n  curl -H \"Authorization: Bearer $KEY\" -d '{\"instances\": [{\"age\": 41}]}' \\\n       http://127.0.0.1:8080/v1/models/credit:predict\n  warden login https://hub.example.com --token-file replica.token\n  warden serve --hub https://hub.example.com --env production --addr 0.0.0.0:8080\n\nWith --hub the server is a replica of the hub's environment: no workspace, no control API, no\nmonitor. Every reload it checks the hub's signed checkpoint extends the newest this machine saw,\nreads the environment's pointers and API keys from the hub, downloads a new version's package and\nverifies it here (signature by a key of the hub's trust store, or only --trust-key), and records\neach load in the hub's log as the logged-in principal (a role with serve.run, e.g. operator).\nAPI keys are created on the hub (warden hub apikey create); the hub checks a key's secret once.\n\nRoutes: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME[/versions/N], /v2/models/NAME/ready;\nPOST /v2/models/NAME[/versions/N]/infer (Open Inference Protocol v2), POST /v1/models/NAME:predict\n({\"instances\": [...]}); GET /metrics (Prometheus); GET /openapi.json; the control API under /api/v1/\n(models, versions, promote, rollback, quarantine, audit log and proofs, acting as the caller).\nEvery route but the health probes needs an API key (Authorization: Bearer KEY or X-API-Key: KEY)\nor, with [jwt] configured, an OIDC bearer token.\n\nOnly packages that verify against the trust store and are not quarantined are served; the stage\npointers, quarantines and API keys are re-read every few seconds and models swap atomically.\nConfig file (TOML, every key optional):\n  addr = \"127.0.0.1:8080\"          env = \"production\"         reload_interval_seconds = 2\n  max_body_bytes = 1048576         max_concurrency = 256        request_timeout_seconds = 10\n  max_instances = 1000             range_tolerance = 0.1        min_confidence = 0.6\n  public_metrics = false\n  [rate_limits.predictor]          per_second = 100             burst = 200\n  [tls]   cert = \"server.pem\"   key = \"server.key\"   client_ca = \"clients-ca.pem\"\n  [jwt]   jwks_file = \"jwks.json\"   issuer = \"https://idp.example.com/\"   audience = \"warden\"\n          algorithms = [\"RS256\", \"ES256\"]   roles_claim = \"roles\"   leeway_seconds = 30\n\nOne JSON line per request and per model load goes to stdout (no payloads, no keys).\nSIGTERM or Ctrl-C stops accepting, finishes requests in flight, and exits 0.\nExit codes: 1 the server could not start (address in use, unreadable store, bad config), 3 not authorised."
    )]
    Serve {
        /// The environment whose models are served
        #[arg(long)]
        env: Option<String>,
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free port)
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        /// Server settings (TOML); flags override it
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
        /// Serve HTTPS with this PEM certificate chain (needs --tls-key)
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The PEM private key of --tls-cert
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// Require client certificates signed by this PEM CA (with --tls-cert)
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_client_ca: Option<std::path::PathBuf>,
        /// Follow this hub's environment instead of a workspace: a replica with no workspace,
        /// acting with the credentials of `warden login URL` (needs --env)
        #[arg(long, value_name = "URL", requires = "env")]
        hub: Option<String>,
        /// With --hub: accept only packages signed by this public key (PEM; repeatable),
        /// whatever the hub's trust store lists
        #[arg(long, value_name = "FILE", requires = "hub")]
        trust_key: Vec<std::path::PathBuf>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Warden Hub: the shared control plane, where callers are proven by OIDC tokens
    #[command(subcommand)]
    Hub(HubCmd),
    /// Log in to a Warden Hub: check the token proves someone, remember the hub's log key and checkpoint
    #[command(
        after_help = "Examples:\n  warden login https://hub.example.com --device\n  warden login https://hub.example.com --token-file ~/.config/idp-token\n  WARDEN_HUB_TOKEN=$(gh-oidc-token) warden login https://hub.example.com\n  warden login https://hub.example.com --token-file t --vkey 'hub.example.com/log+1a2b3c4d+AbC…'\n\nThe token (an OIDC ID token from an issuer the hub trusts) is kept in the user's Warden directory\n(hub.json, mode 0600). The hub's log key is taken from the hub at first login unless --vkey pins\nit; from then on every `warden hub` call checks the hub's signed checkpoint extends the newest this\nmachine has seen (a consistency proof), so a rewritten or forked history is refused (exit 5).\n--actor and WARDEN_ACTOR are refused: the hub acts as the principal the token proves.\nWith --device, the token comes from the identity provider's device flow (RFC 8628) that the hub\npublishes at /login/issuers: a code is shown to enter at the provider's page, then the CLI waits.\nExit codes: 2 bad URL, no token or no device login offered, 3 the hub does not accept the token\n(or the provider refused or the code expired), 5 the log does not verify."
    )]
    Login {
        /// The hub's base URL (https://, or http:// on the loopback address)
        url: String,
        /// Read the bearer token from this file
        #[arg(long, value_name = "FILE")]
        token_file: Option<std::path::PathBuf>,
        /// The bearer token itself (prefer --token-file: a flag shows in the process list)
        #[arg(long, env = "WARDEN_HUB_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Pin the hub's log verifier key instead of taking the one the hub names
        #[arg(long, value_name = "VKEY")]
        vkey: Option<String>,
        /// Log in in a browser: the identity provider's device flow (RFC 8628), as the hub
        /// publishes it at /login/issuers; prints a code to enter at the provider's page
        #[arg(long, conflicts_with_all = ["token_file", "token"])]
        device: bool,
        /// With --device, the hub's issuer to log in with (when it offers several)
        #[arg(long, value_name = "NAME", requires = "device")]
        issuer: Option<String>,
    },
    /// Move an environment back to the last version that passed its gate before the current one did and is not quarantined
    #[command(
        after_help = "Examples:\n  warden rollback credit --env production\n  warden rollback credit --env staging --json\n\nA second rollback goes further back, never forward to the version just rolled back from.\nWith the environment empty, the last version that passed its gate. Exit 1 if there is no\nsuch version."
    )]
    Rollback {
        /// The model name
        model: String,
        /// The environment to roll back
        #[arg(long)]
        env: String,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Subcommand)]
pub enum HubCmd {
    /// Serve this workspace's registry as the hub: an HTTPS JSON API for people, teams and CI
    #[command(
        after_help = "Examples:\n  warden hub serve --config hub.toml\n  warden hub serve --config hub.toml --addr 0.0.0.0:8443 --tls-cert hub.pem --tls-key hub.key\n\nEvery caller presents an OIDC bearer token from an [[issuer]] of hub.toml; the hub verifies it\n(signature by a key of the issuer's JWKS, asymmetric algorithm, issuer, audience, expiry,\nnot-before) and acts as the principal ISSUER.CLAIM, e.g. corp.alice@example.com, with the groups\nits rules give (group.NAME). There is no --actor on the hub: roles are the workspace's audited\ngrants to the principal and its groups (warden roles grant group.ci-main ml-engineer).\n\nhub.toml (besides the listener, [tls], limits and timeouts of `warden serve --config`):\n  max_upload_bytes = 4294967296         # the largest upload (default 4 GiB)\n  upload_timeout_seconds = 1800         # how long one may take\n  max_concurrent_uploads = 4            # uploads in progress at once (503 beyond)\n  [[service_account]]                   # a pipeline proven by a TLS client certificate (needs [tls] client_ca)\n  name = \"trainer\"                     # the principal mtls.trainer\n  certificate_sha256 = \"AB:CD:...\"     # openssl x509 -noout -fingerprint -sha256 -in trainer.pem\n  [[issuer]]\n  name = \"corp\"                        # principals are corp.<principal_claim>\n  issuer = \"https://idp.example.com/\"\n  audience = \"warden-hub\"\n  jwks_url = \"https://idp.example.com/jwks\"   # or jwks_file = \"jwks.json\"\n  algorithms = [\"RS256\", \"ES256\"]\n  principal_claim = \"email\"             # default sub\n  groups_claim = \"groups\"               # each value is group.corp.<value>\n  [issuer.login]                        # optional: warden login --device (RFC 8628)\n  client_id = \"warden-cli\"\n  device_authorization_endpoint = \"https://idp.example.com/oauth/device/code\"\n  token_endpoint = \"https://idp.example.com/oauth/token\"\n  [issuer.browser]                      # optional: the web console's sign-in (code + PKCE)\n  client_id = \"warden-console\"\n  authorization_endpoint = \"https://idp.example.com/oauth/authorize\"\n  token_endpoint = \"https://idp.example.com/oauth/token\"\n  redirect_uri = \"https://hub.example.com/console/callback\"\n  # client_secret_env = \"WARDEN_CONSOLE_SECRET\"   # a confidential client's secret, from the environment\n  [[issuer]]\n  name = \"github\"\n  issuer = \"https://token.actions.githubusercontent.com\"\n  audience = \"warden-hub\"\n  jwks_url = \"https://token.actions.githubusercontent.com/.well-known/jwks\"\n  [[issuer.group]]\n  name = \"ci-main\"\n  claims = { repository = \"org/app\", ref = \"refs/heads/main\", ref_protected = \"true\" }\n\nRoutes: GET /checkpoint (the log's signed checkpoint, open to all); GET /api/v1/whoami; under\n/api/v1/teams/default/: dataset and model uploads (new versions), models, versions, promote,\nrollback, quarantine, approvals (signed on the approver's machine), keys (enrol a public key, acknowledge), roles (list, grant, revoke), tokens,\nevidence, pipeline runs, audit log, inclusion and consistency proofs; GET /login/issuers (how a\nterminal logs in, open to all); /console/ (the web console: sign in with an [issuer.browser]).\nExit codes: 1 the hub could not start, 2 bad config, 3 not authorised to run it."
    )]
    Serve {
        /// Hub settings (TOML): at least one [[issuer]]
        #[arg(long, value_name = "FILE")]
        config: std::path::PathBuf,
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free port)
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (needs --tls-key)
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The PEM private key of --tls-cert
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Who the hub says you are: principal, groups and roles (after `warden login`)
    #[command(after_help = "Example:\n  warden hub whoami --json")]
    Whoami,
    /// Upload a CSV to the hub as the next version NAME@V of a dataset, ingested there as you
    #[command(
        after_help = "Examples:\n  warden hub ingest credit.csv --name credit --target approved --id customer_id --sensitive sex\n  warden hub ingest adult.csv --name adult --trim --target Y --schema adult.schema.toml --json\n\nThe same flags and steps as `warden data ingest`, run by the hub as the principal your token\nproves (data-engineer or admin). The file is hashed here, streamed to the hub and ingested as\nit arrives; unless the bytes the hub received hash to the same SHA-256, nothing is recorded\n(--pin records that SHA-256 as the version's pin, as `data ingest --sha256`). The hub refuses\nan upload over its max_upload_bytes (exit 2). Exit 3 if your roles may not ingest."
    )]
    Ingest {
        /// The CSV file
        file: PathBuf,
        /// Dataset name
        #[arg(long)]
        name: String,
        /// Record the file's SHA-256 as the version's pin
        #[arg(long)]
        pin: bool,
        /// Expectations and column types (TOML)
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
        /// The label column
        #[arg(long, value_name = "COL")]
        target: Option<String>,
        /// Declared feature columns, comma-separated (default: every non-PII column)
        #[arg(long, value_name = "C1,C2,...", value_delimiter = ',')]
        features: Option<Vec<String>>,
        /// A sensitive attribute (kept for fairness checks); repeat for several
        #[arg(long, value_name = "COL")]
        sensitive: Vec<String>,
        /// The record id column (pseudonymised by default)
        #[arg(long, value_name = "COL")]
        id: Option<String>,
        /// PII actions per entity and column (TOML)
        #[arg(long, value_name = "FILE")]
        pii_policy: Option<PathBuf>,
        /// Skip the poisoning screen
        #[arg(long)]
        no_screen: bool,
        /// The largest share of wrong labels this dataset may have (0–1)
        #[arg(long, value_name = "SHARE")]
        max_label_noise: Option<f64>,
        /// Leave the rows the poisoning screen suspects out of the stored table
        #[arg(long)]
        drop_suspects: bool,
        #[command(flatten)]
        csv: CsvArgs,
    },
    /// Upload a model file to the hub as the next version MODEL@N, imported there as you
    #[command(
        after_help = "Examples:\n  warden hub import rf.onnx --name churn-rf --schema churn.toml --check rf.check.csv --dataset churn@3\n  warden hub import churn-xgb.json --name churn-xgb --schema churn.toml --json\n\nThe same flags and checks as `warden model import`, run by the hub as the principal your\ntoken proves (ml-engineer or admin): the hub builds the model, reproduces the check batch,\npackages and signs it with its pipeline key. Each file is hashed here and refused by the hub\nunless the bytes it received hash the same; nothing is recorded on any failure. ONNX external\ntensor data is not uploaded: inline it first. Exit 3 if your roles may not import."
    )]
    Import {
        /// The model file: ONNX, XGBoost JSON/UBJSON or LightGBM text
        file: PathBuf,
        /// The model name to register it under
        #[arg(long)]
        name: String,
        /// The input schema (TOML): features, ranges, categories, classes
        #[arg(long, value_name = "FILE")]
        schema: PathBuf,
        /// A reference batch the imported model must reproduce (see `warden model import --help`)
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
        /// Largest absolute difference accepted per probability in --check
        #[arg(long, value_name = "X", requires = "check")]
        check_tolerance: Option<f64>,
        /// The dataset version on the hub the model was trained on (NAME@V)
        #[arg(long, value_name = "NAME@V")]
        dataset: Option<String>,
    },
    /// The hub's model versions, or one model's versions and stage pointers
    #[command(after_help = "Examples:\n  warden hub models\n  warden hub models credit --json")]
    Models {
        /// One model's name
        name: Option<String>,
    },
    /// Ask the hub to move an environment's pointer to MODEL@N, if its gate allows (exit 4 if not)
    #[command(after_help = "Example:\n  warden hub promote credit@3 --env staging")]
    Promote {
        /// MODEL@N
        model: String,
        /// The environment whose pointer moves
        #[arg(long)]
        env: String,
    },
    /// Ask the hub to move an environment back to the model's last good version
    #[command(
        after_help = "Example:\n  warden hub rollback credit --env production\n\nThe last version that passed the environment's gate and is not quarantined; operators,\nadmins and the monitor. Exit 3 if your roles may not."
    )]
    Rollback {
        /// The model's name
        model: String,
        /// The environment whose pointer moves back
        #[arg(long)]
        env: String,
    },
    /// Quarantine MODEL@N on the hub: out of every environment, no promotion until released
    #[command(
        after_help = "Example:\n  warden hub quarantine credit@3 --reason \"label leak found in review\""
    )]
    Quarantine {
        /// MODEL@N
        model: String,
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
    },
    /// The hub's trust store: public keys, their owners and whether they count
    #[command(after_help = "Example:\n  warden hub keys --json")]
    Keys,
    /// The reports (SARIF, pip-audit) bound to MODEL@N on the hub
    #[command(after_help = "Example:\n  warden hub evidence titanic@2 --json")]
    Evidence {
        /// MODEL@N
        model: String,
    },
    /// Make an approval key on this machine and enrol its public half on the hub
    #[command(
        after_help = "Example:\n  warden hub keys-enrol lee-approvals\n\nThe private half is written to the user's Warden directory (hub-keys/NAME.pem, 0600, encrypted\nwith WARDEN_KEY_PASSPHRASE when set) and never sent. It counts once an admin other than you\nacknowledges it (warden hub keys-acknowledge NAME)."
    )]
    KeysEnrol {
        /// Name of the key
        name: String,
        /// Key type: ed25519, ecdsa-p256 or ecdsa-p384
        #[arg(long = "type", default_value = "ed25519", value_name = "TYPE")]
        key_type: String,
    },
    /// Acknowledge that an enrolled approval key belongs to its owner (admins other than the owner)
    #[command(after_help = "Example:\n  warden hub keys-acknowledge lee-approvals")]
    KeysAcknowledge {
        /// Name of the enrolled key
        name: String,
    },
    /// Create a personal access token on the hub (shown once): it acts as you, within the roles given
    #[command(
        after_help = "Examples:\n  warden hub token-create laptop --role approver --expires 30d\n  warden hub token-create nightly --role ml-engineer --role operator --expires 2027-03-01T00:00:00Z --json\n\nA token carries only roles you hold, and counts each only while you still hold it; it expires\n(at most 366 days), can be revoked (warden hub token-revoke NAME), and records when it was last\nused. Only a login with your identity provider's token can create one, never another access token.\nUse it with `warden login URL --token-file FILE` or as `Authorization: Bearer wdp_...`."
    )]
    TokenCreate {
        /// A name for the token (yours; names are never reused)
        name: String,
        /// A role the token may use (repeat for several)
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// An RFC 3339 time, or a duration from now (90d, 12h, 30m)
        #[arg(long)]
        expires: String,
    },
    /// Create an inference API key on the hub (shown once) for every replica that follows it
    #[command(
        after_help = "Examples:\n  warden hub apikey-create web --role predictor --expires 30d\n  warden hub apikey-create batch --role predictor --rate-limit 50 --json\n\nThe key works on every `warden serve --hub` replica of the hub within one reload; only its keyed\nhash is kept on the hub, and replicas never hold the secret it is keyed with. You may give a key\nonly a role whose permissions you hold (an operator may issue predictor keys)."
    )]
    ApikeyCreate {
        /// A name for the key (names are never reused)
        name: String,
        /// The role the key acts with (e.g. predictor)
        #[arg(long)]
        role: String,
        /// An RFC 3339 time, or a duration from now (90d, 12h, 30m); default: never
        #[arg(long)]
        expires: Option<String>,
        /// Requests per second for this key (default: the role's limit)
        #[arg(long)]
        rate_limit: Option<f64>,
    },
    /// The hub's inference API keys (never the keys or their hashes)
    #[command(after_help = "Example:\n  warden hub apikeys --json")]
    Apikeys,
    /// Revoke an inference API key on the hub (every replica refuses it after its next reload)
    #[command(after_help = "Example:\n  warden hub apikey-revoke web")]
    ApikeyRevoke {
        /// The key's name
        name: String,
    },
    /// Role grants on the hub, or grant/revoke one (an audited call under your proven name)
    #[command(
        after_help = "Examples:\n  warden hub roles\n  warden hub roles --grant group.ci-main --role operator\n  warden hub roles --revoke corp.lee@example.com --role approver --json\n\nA principal is ISSUER.CLAIM (see `warden hub whoami`) or a group, group.NAME. Exit 3 if your\nroles may not."
    )]
    Roles {
        /// Grant --role to this principal or group
        #[arg(
            long,
            value_name = "PRINCIPAL",
            conflicts_with = "revoke",
            requires = "role"
        )]
        grant: Option<String>,
        /// Revoke --role from this principal or group
        #[arg(long, value_name = "PRINCIPAL", requires = "role")]
        revoke: Option<String>,
        /// The role to grant or revoke
        #[arg(long)]
        role: Option<String>,
    },
    /// The hub's audit log, newest last (readers)
    #[command(
        after_help = "Examples:\n  warden hub audit --limit 20\n  warden hub audit --action model.approve --json\n\nEvery call is followed by the check that the hub's log extends what this machine saw."
    )]
    Audit {
        /// Only events of this action (e.g. model.promote)
        #[arg(long)]
        action: Option<String>,
        /// Only events by this principal
        #[arg(long, value_name = "PRINCIPAL")]
        by: Option<String>,
        /// At most this many events (up to 1000)
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Bind another tool's report (SARIF 2.1.0, pip-audit JSON) to a model version on the hub
    #[command(
        after_help = "Examples:\n  warden hub evidence-add titanic@2 --tool bandit --report bandit.sarif\n  warden hub evidence-add titanic@2 --tool pip-audit --report audit.json --json\n\nThe kind (sast, sca, container, dockerfile, other) defaults by tool, as in `warden evidence\nadd`. A CI job logged in with its OIDC token records what its scanners found; the gate\nreads it."
    )]
    EvidenceAdd {
        /// MODEL@N
        model: String,
        /// A short name for the tool (bandit, pip-audit, trivy)
        #[arg(long)]
        tool: String,
        /// sast, sca, container, dockerfile or other (default: by tool)
        #[arg(long)]
        kind: Option<String>,
        /// The report file
        #[arg(long, value_name = "FILE", alias = "sarif")]
        report: PathBuf,
    },
    /// The hub's recorded pipeline runs, or one run
    #[command(after_help = "Examples:\n  warden hub pipelines\n  warden hub pipelines 3 --json")]
    Pipelines {
        /// One run's number
        id: Option<u64>,
    },
    /// Your personal access tokens on the hub (never the tokens themselves)
    #[command(after_help = "Example:\n  warden hub tokens --json")]
    Tokens,
    /// Revoke one of your personal access tokens (the hub refuses it within its refresh interval)
    #[command(after_help = "Example:\n  warden hub token-revoke laptop")]
    TokenRevoke {
        /// The token's name
        name: String,
    },
    /// Sign an approval of MODEL@N on this machine and record it on the hub (never the author)
    #[command(
        after_help = "Example:\n  warden hub approve credit@3 --env production --key lee-approvals --comment \"reviewed eval 12\"\n\nThe statement names the digest the hub reports for MODEL@N; the hub checks the signature against\nthe key you enrolled and refuses an approval by the model's author. Exit 5 if it does not verify."
    )]
    Approve {
        /// MODEL@N
        model: String,
        /// The environment the approval is for
        #[arg(long)]
        env: String,
        /// Your enrolled approval key
        #[arg(long)]
        key: String,
        /// A comment, signed with the approval
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PipelineCmd {
    /// Check a pipeline file and print its stages in the order they run (runs nothing)
    #[command(
        after_help = "Examples:\n  warden pipeline plan\n  warden pipeline plan examples/titanic/pipeline.toml --json"
    )]
    Plan {
        /// The pipeline file
        #[arg(default_value = "pipeline.toml")]
        file: PathBuf,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Run a pipeline file's stages in order; stops at the first failure or denied gate
    #[command(after_help = PIPELINE_RUN_HELP)]
    Run {
        /// The pipeline file
        #[arg(default_value = "pipeline.toml")]
        file: PathBuf,
        /// Run every stage, even those an earlier run's result could be reused for
        #[arg(long)]
        force: bool,
        /// Run commands without a sandbox when bubblewrap cannot make one (recorded in the provenance)
        #[arg(long)]
        allow_unsandboxed: bool,
        /// Worker threads for training and evaluation (default: every core)
        #[arg(long, value_name = "N", env = "WARDEN_THREADS")]
        threads: Option<usize>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Recorded runs, oldest first
    #[command(
        after_help = "Examples:\n  warden pipeline list\n  warden pipeline list --name titanic --json"
    )]
    List {
        /// Only the runs of this pipeline
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// One recorded run: every stage, its status, result and time
    #[command(
        after_help = "Examples:\n  warden pipeline show 3\n  warden pipeline show 3 --json\n  warden pipeline show last --markdown >> \"$GITHUB_STEP_SUMMARY\"   # in a CI job"
    )]
    Show {
        /// The run number, or `last`
        id: String,
        /// Print the run as Markdown (a CI job's summary, a pull-request comment)
        #[arg(long)]
        markdown: bool,
        #[command(flatten)]
        acting: ActingAs,
    },
}

const PIPELINE_RUN_HELP: &str = "Examples:
  warden pipeline run                                # ./pipeline.toml
  warden pipeline run examples/titanic/pipeline.toml --json
  warden pipeline run pipeline.toml --force          # nothing reused

A pipeline file (TOML):
  name = \"titanic\"
  [sandbox]                        # for commands (train, evidence)
  read_only = [\".venv\"]           # a virtualenv brings its interpreter
  env = [\"PYTHONHASHSEED\"]        # passed through; everything else is dropped
  timeout_seconds = 600            # also cpu_seconds, memory_mb
  [[stage]]
  name = \"data\"
  ingest = { file = \"titanic.csv\", dataset = \"titanic\", target = \"survived\" }
  [[stage]]
  name = \"train\"
  train = { dataset = \"data\", model = \"titanic\", command = [\"python3\", \"train.py\"] }
  [[stage]]
  name = \"gate\"
  gate = { model = \"train\", env = \"staging\" }

Kinds: ingest, train (builtin = \"logreg\" | \"mlp\", or command), evaluate, scan, evidence
(report, or command writing it), gate, promote. An input names a stage of the file, or a
recorded version (NAME@V, or sha256:DIGEST for a dataset version). A training command runs
in bubblewrap: no network, the code directory and the dataset (WARDEN_DATASET, a CSV file)
read-only, one writable directory (WARDEN_OUTPUT, `outputs`, default out/), an empty home,
a scrubbed environment, CPU, memory and time limits. It must write model.onnx (or an
XGBoost/LightGBM file named by model_file) and schema.toml there; a pickle is refused; the
outputs are scanned, then imported with signed SLSA provenance. A stage whose inputs are
unchanged reuses an earlier run's result; gates and promotions are asked every time.

Exit codes: 0 every stage passed, 4 a gate denied, 1 a stage failed (the run is recorded
either way: warden pipeline show N).";

#[derive(Subcommand)]
pub enum CiCmd {
    /// Write .github/workflows/warden.yml or .gitlab-ci.yml into the repository
    #[command(
        after_help = "Examples:\n  warden ci init github --install \"cargo install --locked --git https://git.example.com/warden warden-cli\"\n  warden ci init gitlab --pipeline examples/titanic/pipeline.toml --install \"curl -sSfL https://example.com/warden -o /usr/local/bin/warden && chmod +x /usr/local/bin/warden\"\n\nThe workflow installs bubblewrap and Warden (--install: your line), makes the trainer's\nvirtualenv from requirements.txt beside the pipeline file, scans the repository to SARIF\n(GitHub: uploaded to code scanning), runs the pipeline in a fresh workspace (a denied gate\nfails the job), and, when WARDEN_HUB is set, logs in to the hub with the CI's OIDC token.\nAn existing file is kept unless --force."
    )]
    Init {
        /// github or gitlab
        ci: String,
        /// The pipeline file, relative to the repository root
        #[arg(long, default_value = "pipeline.toml")]
        pipeline: String,
        /// One shell line that installs the warden binary on the runner
        #[arg(long, value_name = "CMD")]
        install: String,
        /// The repository root to write into
        #[arg(long, default_value = ".", value_name = "DIR")]
        dir: PathBuf,
        /// Replace an existing workflow file
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum EvidenceCmd {
    /// Bind a report to a model version; the gate reads its findings
    #[command(
        after_help = "Examples:\n  bandit -r src -f sarif -o bandit.sarif; warden evidence add titanic@2 --tool bandit --kind sast --report bandit.sarif\n  pip-audit -r requirements.txt -f json -o audit.json; warden evidence add titanic@2 --tool pip-audit --kind sca --report audit.json\n  trivy image --format sarif -o trivy.sarif trainer:1; warden evidence add titanic@2 --tool trivy --kind container --report trivy.sarif\n  warden evidence add titanic@2 --sarif semgrep.sarif --tool semgrep\n\nSARIF 2.1.0 and pip-audit JSON are read (--sarif is another name for --report). Each finding is scored on the CVSS scale: its\nsecurity-severity property (or its rule's), else its level (error 7, warning 4, note 1);\na pip-audit vulnerability counts as 7. The bundled gate denies from staging up on a finding\nscoring 7 or more, or on evidence older than 30 days (gate-data.json: evidence_*).\nNeeds the ml-engineer, operator or admin role."
    )]
    Add {
        /// The model version (MODEL@N)
        model: String,
        /// A short name for the tool (bandit, pip-audit, trivy)
        #[arg(long)]
        tool: String,
        /// sast, sca, container, dockerfile or other (default: by tool: bandit and semgrep sast,
        /// pip-audit and osv-scanner sca, trivy and grype container, hadolint dockerfile)
        #[arg(long)]
        kind: Option<String>,
        /// The report file (SARIF 2.1.0 or pip-audit JSON)
        #[arg(long, value_name = "FILE", alias = "sarif")]
        report: PathBuf,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Evidence recorded for a model version, or all
    #[command(
        after_help = "Examples:\n  warden evidence list titanic@2\n  warden evidence list --json"
    )]
    List {
        /// The model version (MODEL@N); every version if left out
        model: Option<String>,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Subcommand)]
pub enum IncidentCmd {
    /// Quarantine a model, freeze the pipeline, trace the lineage and write the runbook
    #[command(
        after_help = "Examples:\n  warden incident open --model credit@4 --kind poisoning --summary \"flipped labels in credit@2\"\n  warden incident open --model credit@4 --kind credential-leak --summary \"pipeline key on a public runner\" --json\n\nKinds: poisoning, data-leak, drift, credential-leak, other. While an incident is open,\ntraining and promotion refuse, naming it."
    )]
    Open {
        /// The model version concerned (MODEL@N)
        #[arg(long, value_name = "MODEL@N")]
        model: String,
        /// What happened: poisoning, data-leak, drift, credential-leak, integrity, other
        #[arg(long)]
        kind: String,
        /// One line on what happened
        #[arg(long)]
        summary: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// List incidents, open and closed
    #[command(after_help = "Examples:\n  warden incident list\n  warden incident list --json")]
    List {
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Show an incident's report
    #[command(after_help = "Example:\n  warden incident show 1   # the incident report (Markdown)")]
    Show {
        /// The incident number
        id: u64,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Close an incident (the model stays quarantined until an admin releases it)
    #[command(
        after_help = "Example:\n  warden incident close 1 --resolution \"re-ingested clean data as credit@3; retrained as credit@5\""
    )]
    Close {
        /// The incident number
        id: u64,
        /// What was found and done
        #[arg(long)]
        resolution: String,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Run the gate policy's own Rego tests (rules named test_*)
    #[command(
        after_help = "Examples:\n  warden policy test\n  warden policy test --json\n\nExit 1 if a test fails."
    )]
    Test {
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Register the policy warden.toml names now for an environment's gate, or for `authz`
    #[command(
        after_help = "Examples:\n  warden policy register staging            # the gate files [gates] names, for staging\n  warden policy register authz              # the [policy] authz file\n  warden --actor ana policy register production   # proposes;\n  warden --actor bob policy register production   # a second admin registers\n\nA gate decides only under the bundle registered for its environment, and the\nauthorisation policy only if registered (the bundled policies are registered\nuntil something else is). A mismatch is refused with exit 5 naming both digests."
    )]
    Register {
        /// An environment (dev, staging, production, ...) or `authz`
        scope: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Show the registered and on-disk policy digests of every scope
    #[command(after_help = "Examples:\n  warden policy status\n  warden policy status --json")]
    Status {
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Args)]
pub struct EvalArgs {
    /// The model version (MODEL@N, or MODEL for the latest); omit with --predictions
    #[arg(
        required_unless_present = "predictions",
        conflicts_with = "predictions"
    )]
    pub model: Option<String>,
    /// The dataset version to measure on
    #[arg(long, value_name = "NAME@V", required_unless_present = "predictions")]
    pub dataset: Option<String>,
    /// A CSV of labels and predictions made elsewhere
    #[arg(long, value_name = "FILE", requires_all = ["label", "prediction"])]
    pub predictions: Option<PathBuf>,
    /// With --predictions: the true label column
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    /// With --predictions: the predicted label column
    #[arg(long, value_name = "COL")]
    pub prediction: Option<String>,
    /// With --predictions: the probability of the second class (sorted labels)
    #[arg(long, value_name = "COL")]
    pub score: Option<String>,
    /// Sensitive attributes (default: those declared at ingest)
    #[arg(long, value_name = "COL")]
    pub sensitive: Vec<String>,
    /// A privileged group, for AIF360's signed differences and ratios
    #[arg(long, value_name = "COL=VALUE")]
    pub privileged: Vec<String>,
    /// Attacks: auto (fgsm,pgd for native models, hsj for ONNX), fgsm, pgd (L∞), pgd_l2,
    /// hsj (HopSkipJump, decision-based, any model), none
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "auto",
        value_name = "A1,A2"
    )]
    pub attack: Vec<String>,
    /// Attack radii in standardised units (1 = one training standard deviation)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.05,0.1,0.3",
        value_name = "E1,E2",
        allow_negative_numbers = true
    )]
    pub eps: Vec<f64>,
    /// PGD steps
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub steps: usize,
    /// Features the attacks may not change (sensitive attributes never change)
    #[arg(long, value_name = "COL")]
    pub immutable: Vec<String>,
    /// Bootstrap resamples for the 95% intervals
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub bootstrap: usize,
    /// Random seed of the bootstrap and the attacks
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write report.json and report.md into DIR
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub csv: CsvArgs,
    #[command(flatten)]
    pub acting: ActingAs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ModelKindArg {
    Logreg,
    Mlp,
}

#[derive(Args)]
pub struct TrainArgs {
    /// The dataset version to train on (NAME@V, or NAME for the latest)
    #[arg(long, value_name = "NAME@V")]
    pub dataset: String,
    /// The target column (default: the dataset's declared target)
    #[arg(long, value_name = "COL")]
    pub target: Option<String>,
    /// The model family to train
    #[arg(long, value_enum, default_value = "logreg")]
    pub model: ModelKindArg,
    /// The model's registry name
    #[arg(long)]
    pub name: String,
    /// Feature columns (default: the dataset's declared features)
    #[arg(long, value_name = "C1,C2,...", value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Random seed (the same seed gives byte-identical weights)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of rows held out to measure the model
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// DP-SGD: the target epsilon (the smallest noise meeting it is searched)
    #[arg(long, value_name = "E", conflicts_with = "dp_noise")]
    pub dp_epsilon: Option<f64>,
    /// DP-SGD: delta (default 1e-5)
    #[arg(long, value_name = "D")]
    pub dp_delta: Option<f64>,
    /// DP-SGD: the noise multiplier sigma
    #[arg(long, value_name = "SIGMA")]
    pub dp_noise: Option<f64>,
    /// DP-SGD: per-example gradient clipping norm C
    #[arg(long, value_name = "C", default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Passes over the data (MLP and DP-SGD; default 20 for the MLP, 10 with DP)
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// MLP hidden layer sizes (one or two)
    #[arg(long, value_name = "H1[,H2]", value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Minibatch size (expected batch size under DP-SGD; default 128, 256 with DP)
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,
    /// Adam learning rate (default 0.001 MLP, 0.005 MLP with DP, 0.05 logreg with DP)
    #[arg(long, value_name = "LR")]
    pub learning_rate: Option<f64>,
    /// L2 strength on the summed loss (scikit-learn's 1/C)
    #[arg(long, value_name = "L", default_value_t = 1.0)]
    pub l2: f64,
    /// L-BFGS iteration limit (logistic regression without DP)
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_iter: usize,
    /// Worker threads (default: every core; the result does not depend on it)
    #[arg(long, env = "WARDEN_THREADS", value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub acting: ActingAs,
}

#[derive(Subcommand)]
pub enum ModelCmd {
    /// List registered model versions
    #[command(after_help = "Examples:\n  warden model list\n  warden model list --json")]
    List {
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Show a model version: its manifest, files, signature and environments
    #[command(
        after_help = "Examples:\n  warden model show credit@1\n  warden model show credit --json   # latest version, whole manifest"
    )]
    Show {
        /// The model version (MODEL@N, or MODEL for the latest)
        model: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Write a model's package and its signature (DIR.sig) after verifying them
    #[command(
        after_help = "Examples:\n  warden model export credit@1 --out ./credit-1\n  warden verify ./credit-1                      # checks ./credit-1.sig\n  model_signing verify key ./credit-1 --signature ./credit-1.sig --public_key pipeline.pub.pem"
    )]
    Export {
        /// The model version (MODEL@N, or MODEL for the latest)
        model: String,
        /// The directory to write the package to (must not exist)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Import an ONNX, XGBoost (JSON/UBJSON) or LightGBM (text) model with its declared input schema; signed and registered as MODEL@N
    #[command(
        after_help = "Examples:\n  warden model import penguins.onnx --name penguins --schema penguins.schema.toml\n  warden model import rf.onnx --name churn-rf --schema churn.toml --json\n  warden model import rf.onnx --name churn-rf --schema churn.toml --check rf.check.csv --dataset churn@3\n  warden model import churn-xgb.json --name churn-xgb --schema churn.toml --check xgb.check.csv\n\nThe schema (TOML) declares the class labels in the probability output's order and the\nfeatures in the input tensor's column order:\n\n  classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\n  input = \"input\"                    # optional when the model has one input\n  probabilities = \"probabilities\"    # optional when an output has that name\n  [[features]]\n  name = \"bill_length_mm\"\n  min = 32.1                         # optional\n  max = 59.6\n\nA model with one input per column (a scikit-learn ColumnTransformer exported by skl2onnx:\nfloat inputs for numbers, string inputs for text) takes its feature names and types from\nthe model: list the data's column names as [[features]] (`education-num` feeds the input\n`education_num`; `input = \"...\"` names another), or none to use the inputs' names.\n\nThe model runs on tract (pure Rust); it is run once at import, so an operator tract cannot\nrun is refused now (ONNX-ML preprocessing such as OneHotEncoder, Imputer, Scaler and\nLabelEncoder is rewritten into standard operators first). External\ntensor data must lie inside the model's directory; it is inlined into the package.\n--check FILE compares the import with the framework's own probabilities for a batch of rows\n(CSV: the feature columns, then `probability:CLASS` per class; docs/bring-your-own-model.md\nhas the script that writes it) and refuses on any difference above --check-tolerance (1e-5).\nNeeds the ml-engineer or admin role."
    )]
    Import {
        /// The model file: ONNX, XGBoost JSON/UBJSON or LightGBM text (recognised by content)
        file: PathBuf,
        /// The model name to register it under
        #[arg(long)]
        name: String,
        /// The input schema (TOML): features, ranges, categories, classes
        #[arg(long, value_name = "FILE")]
        schema: PathBuf,
        /// A reference batch (CSV: the feature columns and one
        /// `probability:CLASS` column per class, the framework's own output)
        /// that the imported model must reproduce, or nothing is registered
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
        /// Largest absolute difference accepted per probability in --check
        #[arg(long, value_name = "X", requires = "check")]
        check_tolerance: Option<f64>,
        /// The dataset version the model was trained on (NAME@V): measures
        /// the reference profile drift monitoring compares with and the
        /// training ranges of undeclared features, and records the lineage
        #[arg(long, value_name = "NAME@V")]
        dataset: Option<String>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Write a model's Hugging Face model card, or attach the written one
    #[command(
        after_help = "Examples:\n  warden model card credit@3 > credit-3.card.md   # generated; edit the marked sections\n  warden model card credit@3 --attach credit-3.card.md\n\nThe card has YAML front matter (license, datasets, tags, metrics, model-index) and sections\nfilled from the package and its latest evaluation. Sections only a person can write (intended\nuse, out-of-scope use, limitations and risks, ethical considerations) carry a marker; the\nproduction gate counts an attached card's remaining markers and an unset license as missing."
    )]
    Card {
        /// The model version (MODEL@N, or MODEL for the latest)
        model: String,
        /// Attach this written card to the model version
        #[arg(long, value_name = "FILE")]
        attach: Option<PathBuf>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// The security passport of a model version (Markdown, or --json)
    #[command(
        after_help = "Examples:\n  warden model passport credit@3 > credit-3.passport.md\n  warden model passport credit@3 --json\n\nDigests along the lineage, the signature checked now, evaluations, gate decisions,\napprovals, quarantines and incidents, and the controls in place mapped to the NIST AI RMF\nfunctions, the OWASP Machine Learning Security Top 10 and MITRE ATLAS techniques."
    )]
    Passport {
        /// The model version (MODEL@N, or MODEL for the latest)
        model: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// A CycloneDX 1.6 ML-BOM (JSON) of a model version, its package files and datasets
    #[command(
        after_help = "Examples:\n  warden model bom credit@3 > credit-3.cdx.json\n\nThe model component carries a CycloneDX model card (approach, task, architecture, datasets,\ninputs and outputs, performance, fairness and robustness metrics, considerations). The test\nsuite validates it against the official CycloneDX 1.6 JSON schema."
    )]
    Bom {
        /// The model version (MODEL@N, or MODEL for the latest)
        model: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Predict every row of a CSV file with a verified model
    #[command(
        after_help = "Examples:\n  warden model predict credit@1 applicants.csv\n  warden model predict credit@1 applicants.csv --json\n\nThe model is verified (digests, signature against the trust store) before it is loaded.\nThe CSV needs every input feature; other columns are ignored. If it holds the model's\ntarget column, the accuracy is reported too. Output: row, label, one probability per class."
    )]
    Predict {
        /// The model version (MODEL@N, or MODEL for the latest)
        model: String,
        /// A CSV of the model's input columns
        file: PathBuf,
        #[command(flatten)]
        csv: CsvArgs,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AccountantArg {
    /// Privacy-loss distributions (tight; the default)
    Pld,
    /// Rényi DP with Opacus's orders (looser; what Opacus reports by default)
    Rdp,
}

impl From<AccountantArg> for warden::privacy::Accountant {
    fn from(a: AccountantArg) -> Self {
        match a {
            AccountantArg::Pld => warden::privacy::Accountant::Pld,
            AccountantArg::Rdp => warden::privacy::Accountant::Rdp,
        }
    }
}

#[derive(Subcommand)]
pub enum PrivacyCmd {
    /// The (epsilon, delta) spent by DP-SGD with this sampling, noise and number of steps
    #[command(
        after_help = "Examples:\n  warden privacy epsilon --sample-rate 0.01 --noise-multiplier 1.1 --steps 1000 --delta 1e-5\n  warden privacy epsilon --sample-rate 0.004 --noise-multiplier 0.8 --steps 10000 --delta 1e-5 --json\n\nThe sample rate is the expected batch size over the dataset size (Poisson sampling).\nBoth accountants are shown; --accountant picks the one whose epsilon is used (PLD by default).\nBoth are upper bounds; PLD's is tighter (RDP's is what Opacus reports by default)."
    )]
    Epsilon {
        /// Poisson sampling rate q of each step (batch size / dataset size)
        #[arg(long, value_name = "Q")]
        sample_rate: f64,
        /// Noise multiplier sigma (noise std / clipping norm)
        #[arg(long, value_name = "SIGMA")]
        noise_multiplier: f64,
        /// Number of training steps T
        #[arg(long, value_name = "T")]
        steps: u64,
        /// Target delta
        #[arg(long, value_name = "D", default_value_t = 1e-5)]
        delta: f64,
        /// The accountant whose epsilon is used
        #[arg(long, value_enum, default_value = "pld")]
        accountant: AccountantArg,
    },
    /// The smallest noise multiplier that keeps epsilon at or under a target
    #[command(
        after_help = "Examples:\n  warden privacy noise --target-epsilon 3 --sample-rate 0.01 --steps 1000 --delta 1e-5\n  warden privacy noise --target-epsilon 1 --sample-rate 0.001 --steps 10000 --json\n\nCalibrated with the PLD accountant unless --accountant rdp; the other accountant's epsilon at\nthe noise found is shown for comparison."
    )]
    Noise {
        /// The epsilon to reach
        #[arg(long, value_name = "E")]
        target_epsilon: f64,
        /// Poisson sampling rate q of each step
        #[arg(long, value_name = "Q")]
        sample_rate: f64,
        /// Number of training steps T
        #[arg(long, value_name = "T")]
        steps: u64,
        /// Target delta
        #[arg(long, value_name = "D", default_value_t = 1e-5)]
        delta: f64,
        /// The accountant that calibrates the noise
        #[arg(long, value_enum, default_value = "pld")]
        accountant: AccountantArg,
    },
}

/// How to read a CSV file.
#[derive(Args, Clone)]
pub struct CsvArgs {
    /// Field delimiter (one character; `tab` for a tab)
    #[arg(long, default_value = ",", value_name = "C")]
    pub delimiter: String,
    /// Trim leading and trailing spaces from every field
    #[arg(long)]
    pub trim: bool,
    /// A value that means missing; repeat for several (default: empty, NA, N/A, NaN, nan, null, NULL, None, ?)
    #[arg(long = "missing", value_name = "X")]
    pub missing: Vec<String>,
    /// Longest field accepted, in bytes
    #[arg(long, default_value_t = 1 << 20, value_name = "N")]
    pub max_field_bytes: usize,
}

#[derive(Subcommand)]
// Parsed once per run: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum DataCmd {
    /// Ingest a CSV file (or `-` for stdin) as the next version NAME@V
    #[command(
        after_help = "Examples:\n  warden example credit --rows 5000 --seed 7 --out credit.csv --poison 0.03\n  warden data ingest credit.csv --name credit --target approved --id customer_id --sensitive sex --sensitive age_band\n  warden data ingest credit.csv --name credit --target approved --id customer_id --drop-suspects\n  warden data ingest adult.csv --name adult --trim --target Y --sha256 9f86d0...\n  cat data.csv | warden data ingest - --name scores --schema scores.schema.toml --pii-policy pii.toml\n\nSteps, stopping at the first failure (nothing is recorded on failure): integrity (SHA-256,\n--sha256 or a pin in warden.toml), parsing, validation (--schema), PII detection, PII actions\n(--pii-policy), minimisation, poisoning screen. Needs the data-engineer or admin role."
    )]
    Ingest {
        /// The CSV file, or `-` for standard input
        file: PathBuf,
        /// Dataset name
        #[arg(long)]
        name: String,
        /// Expected SHA-256 of the file (64 hex characters)
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Expectations and column types (TOML)
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
        /// The label column
        #[arg(long, value_name = "COL")]
        target: Option<String>,
        /// Declared feature columns, comma-separated (default: every non-PII column)
        #[arg(long, value_name = "C1,C2,...", value_delimiter = ',')]
        features: Option<Vec<String>>,
        /// A sensitive attribute (kept for fairness checks); repeat for several
        #[arg(long, value_name = "COL")]
        sensitive: Vec<String>,
        /// The record id column (pseudonymised by default)
        #[arg(long, value_name = "COL")]
        id: Option<String>,
        /// PII actions per entity and column (TOML)
        #[arg(long, value_name = "FILE")]
        pii_policy: Option<PathBuf>,
        /// Skip the poisoning screen
        #[arg(long)]
        no_screen: bool,
        /// The largest share of wrong labels this dataset may have (0–1; the
        /// gate's max_label_noise when not given): set it when labels are
        /// noisy by nature, after reading the screen's estimate
        #[arg(long, value_name = "SHARE")]
        max_label_noise: Option<f64>,
        /// Leave the rows the poisoning screen suspects out of the stored
        /// table (they stay listed in the report; the count is in the manifest)
        #[arg(long)]
        drop_suspects: bool,
        #[command(flatten)]
        csv: CsvArgs,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Profile a CSV file: types, nulls, ranges, distinct values, top categories, PII guesses
    #[command(
        after_help = "Examples:\n  warden data profile credit.csv\n  warden data profile adult.csv --trim --emit-schema adult.schema.toml"
    )]
    Profile {
        /// The CSV file to profile (`-` for standard input)
        file: PathBuf,
        /// Write a schema (TOML expectations) describing the file as it is
        #[arg(long, value_name = "OUT")]
        emit_schema: Option<PathBuf>,
        #[command(flatten)]
        csv: CsvArgs,
    },
    /// List dataset versions
    #[command(after_help = "Examples:\n  warden data list\n  warden data list --json")]
    List {
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Show a dataset version and its report
    #[command(
        after_help = "Examples:\n  warden data show credit@1\n  warden data show credit --markdown > credit-report.md   # latest version"
    )]
    Show {
        /// NAME@V, or NAME for the latest version
        dataset: String,
        /// Print the full Markdown report
        #[arg(long)]
        markdown: bool,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Show where a dataset version came from
    #[command(
        after_help = "Examples:\n  warden data lineage credit@2\n  warden data lineage credit@2 --json"
    )]
    Lineage {
        /// The dataset version (NAME@V, or NAME for the latest)
        dataset: String,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Subcommand)]
pub enum ExampleCmd {
    /// A deterministic synthetic credit-approval dataset with realistic PII
    #[command(
        after_help = "Examples:\n  warden example credit --rows 10000 --seed 42 --out credit.csv\n  warden example credit --rows 10000 --seed 42 --out poisoned.csv --poison 0.05   # also writes poisoned.csv.poison.json\n  warden example credit --rows 5000 --seed 9 --out shifted.csv --shift --bias 0.8\n\nColumns: customer_id, full_name, email, phone, ssn, card_number, street_address, date_of_birth,\nage, age_band, sex, income, loan_amount, credit_score, employment, housing, num_accounts,\ndebt_ratio, notes, approved (target, 1 = approved). Sensitive attributes: sex, age_band."
    )]
    Credit {
        /// How many rows to generate
        #[arg(long, default_value_t = 1000)]
        rows: usize,
        /// Random seed (the same seed gives the same file)
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where to write the CSV
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Fraction of labels to flip; the flipped rows go to FILE.poison.json (written only when above 0)
        #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
        poison: f64,
        /// Shift income up, credit score down and debt ratio up
        #[arg(long)]
        shift: bool,
        /// How much being `sex = F` lowers the approval score (0 = none)
        #[arg(long, default_value_t = 0.0, value_name = "STRENGTH")]
        bias: f64,
    },
}

#[derive(Subcommand)]
pub enum RolesCmd {
    /// Grant ROLE to ACTOR (needs roles.grant, by default admin)
    #[command(
        after_help = "Examples:\n  warden roles grant lee approver\n  warden roles grant ci-bot@example.com ml-engineer\n\nNo one grants a role beyond their own; under the bundled policy only an admin grants."
    )]
    Grant {
        /// The actor who gets the role
        #[arg(value_name = "ACTOR")]
        member: String,
        /// The role (see `warden roles list`)
        role: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Revoke ROLE from ACTOR (the last admin cannot be revoked)
    #[command(after_help = "Example:\n  warden roles revoke lee approver")]
    Revoke {
        /// The actor who loses the role
        #[arg(value_name = "ACTOR")]
        member: String,
        /// The role taken away
        role: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// List every grant and the roles the policy knows
    #[command(after_help = "Examples:\n  warden roles list\n  warden roles list --json")]
    List {
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Generate a workspace signing key (pipeline or release); the private key goes to .warden/keys/NAME.pem (mode 0600)
    #[command(
        after_help = "Examples:\n  warden keys generate pipeline\n  warden keys generate release --purpose release\n  WARDEN_KEY_PASSPHRASE=... warden keys generate release   # encrypted PKCS#8\n\nApproval keys are personal: the approver runs `warden keys enrol NAME`."
    )]
    Generate {
        /// Name of the key (letters, digits, '-', '_', '.')
        name: String,
        /// Key type: ecdsa-p256 or ecdsa-p384 (what OpenSSF model signing verifies), or ed25519
        #[arg(long = "type", default_value = "ecdsa-p256", value_name = "TYPE")]
        key_type: String,
        /// What the key signs: pipeline (trained and signed models) or release
        #[arg(long, default_value = "pipeline", value_name = "PURPOSE")]
        purpose: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Enrol your own approval key: the private key stays in your own directory, never in the workspace
    #[command(
        after_help = "Examples:\n  warden --actor lee keys enrol lee-approvals\n  WARDEN_KEY_PASSPHRASE=... warden --actor lee keys enrol lee-approvals   # encrypted\n\nThe private key is written to $WARDEN_CONFIG_DIR (else ~/.config/warden)/keys/WORKSPACE-ID/NAME.pem,\nmode 0600. Approvals signed with it count once an admin other than you runs\n`warden keys acknowledge NAME`."
    )]
    Enrol {
        /// Name of the key
        name: String,
        /// Key type: ed25519, ecdsa-p256 or ecdsa-p384
        #[arg(long = "type", default_value = "ed25519", value_name = "TYPE")]
        key_type: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Acknowledge that an enrolled approval key belongs to its owner (an admin other than the owner)
    #[command(after_help = "Example:\n  warden --actor ana keys acknowledge lee-approvals")]
    Acknowledge {
        /// Name of the enrolled key
        name: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// List the workspace's keys and trusted public keys
    #[command(after_help = "Examples:\n  warden keys list\n  warden keys list --json")]
    List {
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Print a key's public half as PEM
    #[command(after_help = "Example:\n  warden keys export-public pipeline > pipeline.pub.pem")]
    ExportPublic {
        /// Name of the key
        name: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Add a public key (PEM) to the workspace trust store
    #[command(after_help = "Example:\n  warden keys trust partner.pub.pem --name partner")]
    Trust {
        /// A public key file (SPKI PEM)
        file: PathBuf,
        /// The name the key is trusted under
        #[arg(long)]
        name: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Revoke a key: kept on record, no longer trusted or used
    #[command(after_help = "Example:\n  warden keys revoke partner")]
    Revoke {
        /// Name of the key
        name: String,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Show audit events
    #[command(
        after_help = "Examples:\n  warden audit log\n  warden audit log --since 100 --actor ana   # events by ana\n  warden audit log --action roles --json   # roles.grant, roles.revoke, ..."
    )]
    Log {
        /// Only events with index >= N
        #[arg(long, value_name = "N")]
        since: Option<u64>,
        /// Only events by this actor (to set who is acting here, use `warden --actor NAME audit log`)
        #[arg(long = "actor", value_name = "A")]
        by: Option<String>,
        /// Only this action, or every action under a prefix (e.g. `keys`)
        #[arg(long, value_name = "X")]
        action: Option<String>,
        /// At most N events
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Cosign the log's newest checkpoint as an independent witness (C2SP tlog-cosignature/v1)
    #[command(
        after_help = "Examples:\n  warden audit witness-key --name witness.example/w1 --out ~/w1.pem   # once, outside the workspace\n  warden audit witness --key ~/w1.pem --name witness.example/w1\n  warden audit verify --witness \"witness.example/w1+1a2b3c4d+BA...\"\n\nThe witness verifies the whole log first, including consistency with the newest\ncheckpoint its own account saw before, and refuses (exit 5) to cosign a log that\ndoes not verify. The cosigned note goes to .warden/log/cosignatures/NAME.note.\nA production gate can require cosignatures: list the witnesses' verifier keys in\nthe gate data's `witnesses` with `min_witnesses` and `max_witness_age_seconds`."
    )]
    Witness {
        /// The witness's Ed25519 private key (PEM)
        #[arg(long, value_name = "FILE")]
        key: std::path::PathBuf,
        /// The witness's name, a schema-less URL (e.g. witness.example/w1)
        #[arg(long, value_name = "NAME")]
        name: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Create a witness key (Ed25519, mode 0600) and print its verifier key
    #[command(
        after_help = "Example:\n  warden audit witness-key --name witness.example/w1 --out ~/w1.pem"
    )]
    WitnessKey {
        /// The witness's name, a schema-less URL
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Where to write the private key (must not exist)
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Recompute every leaf and the tree, check every checkpoint; exit 5 on any failure
    #[command(
        after_help = "Examples:\n  warden audit verify\n  warden audit verify --vkey \"$(cat trusted-log.vkey)\"   # pin the log key\n  warden audit verify --pin /mnt/elsewhere/checkpoint    # a checkpoint kept outside the workspace\n\nThe newest checkpoint of a sound log is remembered in your own directory\n($WARDEN_CONFIG_DIR, else ~/.config/warden), and every later run checks the\nlog against it: deleting the newest events and restoring an older signed\ncheckpoint is reported. Registry rows (stage pointers, quarantines, role\ngrants, keys, approvals, API keys) are compared with the state the log's\nevents imply."
    )]
    Verify {
        /// Verifier key to check checkpoints against (default: the workspace's .warden/log/vkey)
        #[arg(long, value_name = "VKEY")]
        vkey: Option<String>,
        /// A signed checkpoint note kept elsewhere; the log must be consistent with it (repeatable)
        #[arg(long, value_name = "FILE")]
        pin: Vec<std::path::PathBuf>,
        /// Neither check against nor update the checkpoint remembered in your own directory
        #[arg(long)]
        no_remember: bool,
        /// A witness's verifier key: it must have cosigned a checkpoint the log is consistent with (repeatable)
        #[arg(long, value_name = "VKEY")]
        witness: Vec<String>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Produce an inclusion proof (--index) or a consistency proof (--consistency OLD NEW)
    #[command(
        after_help = "Examples:\n  warden audit proof --index 3 --json > proof.json\n  warden audit proof --consistency 10 42 --json > consistency.json\n  warden audit check-proof proof.json"
    )]
    Proof {
        /// Prove event N is in the latest signed checkpoint
        #[arg(
            long,
            value_name = "N",
            conflicts_with = "consistency",
            required_unless_present = "consistency"
        )]
        index: Option<u64>,
        /// Prove the log at size OLD is a prefix of the log at size NEW
        #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
        consistency: Option<Vec<u64>>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Check a proof file written by `audit proof --json`; exit 5 if it does not verify
    #[command(
        after_help = "Examples:\n  warden audit check-proof proof.json\n  warden audit check-proof proof.json --vkey \"$(cat log.vkey)\"   # outside a workspace"
    )]
    CheckProof {
        /// A proof file written by `audit proof --json`
        file: PathBuf,
        /// The log's verifier key (default: the current workspace's)
        #[arg(long, value_name = "VKEY")]
        vkey: Option<String>,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

#[derive(Args)]
pub struct ScanArgs {
    /// Files, directories (recursive; .git is skipped) or MODEL@N of this workspace
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif"])]
    pub format: String,
    /// Write the report to FILE instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 6 when a finding is at or above this severity
    #[arg(long, default_value = "medium", value_parser = ["low", "medium", "high", "critical"])]
    pub fail_on: String,
    /// What a pickle may import
    #[arg(long, default_value = "auto", value_parser = ["auto", "torch", "sklearn", "numpy", "strict"])]
    pub profile: String,
    /// Scan for secrets (only; with --models, both)
    #[arg(long)]
    pub secrets: bool,
    /// Scan model files (only; with --secrets, both)
    #[arg(long)]
    pub models: bool,
    /// Also scan every line added in the git history of the directories given
    #[arg(long)]
    pub git_history: bool,
    /// Allow-list file (paths and fingerprints to suppress)
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
    /// Store the report in the workspace (audited); the gate reads a model's latest scan
    #[arg(long)]
    pub record: bool,
    /// Worker threads (default: one per core)
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub acting: ActingAs,
}

#[derive(Subcommand)]
pub enum ApikeyCmd {
    /// Create an API key with one role; the key is printed once and only its keyed hash is kept
    #[command(
        after_help = "Examples:\n  warden apikey create web-frontend --role predictor --expires 90d\n  warden apikey create --name nightly-batch --role predictor\n  warden apikey create ops-dashboard --role operator --expires 2027-01-01T00:00:00Z\n  warden apikey create batch-scorer --role predictor --rate-limit 500 --json\n\nThe key (wdn_<id>_<secret>) is shown once: store it in a secret manager. Clients send it as\n`Authorization: Bearer KEY` or `X-API-Key: KEY`.\n\nA key's role must be within your own (bundled policy: an admin gives any role; an operator gives\noperator, predictor or monitor)."
    )]
    Create {
        /// The key's name (or give it with --name)
        #[arg(value_name = "NAME", required_unless_present = "name_flag")]
        name: Option<String>,
        /// The key's name, as an option
        #[arg(long = "name", value_name = "NAME", conflicts_with = "name")]
        name_flag: Option<String>,
        /// The key's role (predictor: inference only; operator: also the control API)
        #[arg(long)]
        role: String,
        /// When the key stops working: an RFC 3339 time or a duration (90d, 12h, 30m)
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// Requests per second for this key (default: its role's limit)
        #[arg(long, value_name = "RPS")]
        rate_limit: Option<f64>,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// List API keys (names, roles, expiry, revocation; never the keys)
    #[command(after_help = "Examples:\n  warden apikey list\n  warden apikey list --json")]
    List {
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Revoke an API key by name; it stops working at the server's next refresh (a few seconds)
    #[command(after_help = "Example:\n  warden apikey revoke web-frontend")]
    Revoke {
        /// Name of the API key
        name: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Block an API key (403 until unblocked); the monitor does this to keys that probe a model
    #[command(
        after_help = "Examples:\n  warden apikey block scraper --reason \"extraction probing, incident 12\"\n  warden apikey unblock scraper\n\nThe server refuses the key within a few seconds. Needs apikey.hold (operator, admin)."
    )]
    Block {
        /// Name of the API key
        name: String,
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Hold an API key to RATE requests per second until unblocked
    #[command(
        after_help = "Example:\n  warden apikey throttle batch-scorer --rate 2 --reason \"flooding the endpoint\""
    )]
    Throttle {
        /// Name of the API key
        name: String,
        /// Requests per second
        #[arg(long)]
        rate: f64,
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Lift a block or throttle (set by a person or by the monitor)
    #[command(after_help = "Example:\n  warden apikey unblock scraper")]
    Unblock {
        /// Name of the API key
        name: String,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[derive(Subcommand)]
pub enum MonitorCmd {
    /// Per-feature drift of a CSV against a reference; exit 7 with --fail-on-drift when the dataset drifted
    #[command(
        after_help = "Examples:\n  warden monitor drift --reference model:credit@1 --current today.csv      # a model's reference profile\n  warden monitor drift --reference dataset:credit@2 --current today.csv --report drift/\n  warden monitor drift --reference train.csv --current today.csv --compat evidently --json\n  warden monitor drift --reference credit@1 --current today.csv --correction bonferroni --fail-on-drift\n\nThe reference is MODEL@N (its reference profile; predictions on the current rows are tested too),\nNAME@V (a dataset), model:NAME@N or dataset:NAME@V when a name is both (a bare NAME@V is then\nrefused, exit 2), or a CSV file (no workspace needed). Numeric features: normalised Wasserstein\n(effect size), Kolmogorov-Smirnov (p-value, adjusted for the number of features), PSI over the\nreference's frozen decile bins.\nCategorical: Jensen-Shannon distance, chi-square, PSI. A feature drifts when its adjusted\np-value is below --alpha and its effect size reaches --threshold or its PSI reaches --psi-act.\n--compat evidently runs Evidently's DataDriftPreset tests and verdicts instead.\nExit codes: 0 compared, 7 dataset or prediction drift with --fail-on-drift, 1 unreadable input,\n2 usage, 3 not authorised, 5 the model package does not verify."
    )]
    Drift {
        /// MODEL@N, NAME@V, model:NAME@N, dataset:NAME@V, or a CSV file
        #[arg(long, value_name = "REF")]
        reference: String,
        /// The current data (CSV)
        #[arg(long, value_name = "FILE")]
        current: PathBuf,
        /// Reproduce another tool's test choices and verdicts (evidently)
        #[arg(long, value_name = "TOOL")]
        compat: Option<String>,
        /// Write report.html, report.json and report.md into DIR
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Effect size (normalised Wasserstein, Jensen-Shannon) at which a feature can drift
        #[arg(long, default_value_t = 0.1, value_name = "X")]
        threshold: f64,
        /// Effect size (Jensen-Shannon distance of the predicted class mix) at which predictions drift
        #[arg(long, default_value_t = 0.1, value_name = "X")]
        prediction_threshold: f64,
        /// Significance level for adjusted p-values
        #[arg(long, default_value_t = 0.05, value_name = "P")]
        alpha: f64,
        /// Multiple-testing correction: bh (Benjamini-Hochberg), bonferroni, none
        #[arg(long, default_value = "bh", value_name = "METHOD")]
        correction: String,
        /// PSI at which a feature is watched
        #[arg(long, default_value_t = 0.1, value_name = "X")]
        psi_watch: f64,
        /// PSI at which a feature drifts
        #[arg(long, default_value_t = 0.25, value_name = "X")]
        psi_act: f64,
        /// Share of drifted features at which the dataset drifts
        #[arg(long, default_value_t = 0.5, value_name = "SHARE")]
        drift_share: f64,
        /// Exit 7 when the dataset or the predictions drifted
        #[arg(long)]
        fail_on_drift: bool,
        #[command(flatten)]
        csv: CsvArgs,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Pause the server monitor's automated responses for MODEL (alerts still go out)
    #[command(
        after_help = "Examples:\n  warden monitor pause credit --reason \"planned marketing campaign shifts traffic\"\n  warden monitor resume credit\n\nA kill switch: while paused, the monitor records windows and sends alerts but does not roll\nback, quarantine, block or throttle. Takes effect at the next decision. Needs monitor.pause\n(operator, admin)."
    )]
    Pause {
        /// The model whose automated responses pause
        model: String,
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// Let the monitor act on MODEL again
    #[command(after_help = "Example:\n  warden monitor resume credit")]
    Resume {
        /// The model whose automated responses resume
        model: String,
        #[command(flatten)]
        acting: ActingAs,
    },
    /// The pause switch and the latest monitoring windows of MODEL
    #[command(
        after_help = "Examples:\n  warden monitor status credit\n  warden monitor status credit --limit 50 --json"
    )]
    Status {
        /// The model
        model: String,
        /// Windows to show (newest first)
        #[arg(long, default_value_t = 10)]
        limit: u64,
        #[command(flatten)]
        acting: ActingAs,
    },
}

#[cfg(test)]
mod help_tests {
    use clap::CommandFactory;

    /// Every subcommand and every argument says what it is: a `--help`
    /// with a blank line where a description belongs is a wall for a
    /// newcomer.
    #[test]
    fn every_command_and_argument_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                if a.is_hide_set() || a.get_id() == "help" || a.get_id() == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let p = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(p.clone());
                }
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "warden", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
