//! The model package: a directory holding `manifest.json`,
//! `weights.safetensors` and `reference-profile.json` for a model trained
//! here, or `manifest.json`, `model.onnx` and optionally
//! `reference-profile.json` for an imported ONNX model, or
//! `manifest.json`, `model.trees` (an XGBoost JSON/UBJSON or LightGBM text
//! model, as imported) and optionally `reference-profile.json` for an
//! imported gradient-boosted tree model — nothing else.
//!
//! The loader is strict: the manifest's format version must be one this
//! build knows, unexpected or missing files are refused, every size is
//! bounded before anything is read or allocated (the safetensors header
//! length is checked against the file before the header is parsed), and
//! every tensor must have exactly the dtype and shape the manifest
//! declares, with no tensor missing or extra. Pickle is never read.
//!
//! This module checks the *container*; what the manifest's model section
//! means is the ML crate's business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

/// The package format this build reads and writes.
pub const PACKAGE_FORMAT: &str = "warden.model/v1";
/// The manifest (JSON): the package `format`, the declared `tensors` and
/// the `model` section, whose `kind` decides which other files belong.
pub const MANIFEST_FILE: &str = "manifest.json";
/// A native model's weights: safetensors, every tensor F64.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// The reference profile (JSON): required for a native model, optional for
/// an imported ONNX or tree model.
pub const PROFILE_FILE: &str = "reference-profile.json";
/// An imported ONNX model, self-contained.
pub const ONNX_FILE: &str = "model.onnx";
/// An imported gradient-boosted tree model in its own safe format.
pub const TREES_FILE: &str = "model.trees";
/// The signed SLSA provenance (a DSSE envelope) of a model a pipeline built.
pub const PROVENANCE_FILE: &str = "provenance.dsse.json";

/// Model kinds whose package holds [`TREES_FILE`].
pub const TREE_KINDS: [&str; 3] = ["xgboost-json", "xgboost-ubjson", "lightgbm-text"];

/// Every file name a package may hold.
pub const PACKAGE_FILES: [&str; 6] = [
    MANIFEST_FILE,
    PROFILE_FILE,
    WEIGHTS_FILE,
    ONNX_FILE,
    TREES_FILE,
    PROVENANCE_FILE,
];

/// Largest [`MANIFEST_FILE`] accepted, in bytes (16 MiB). [`read_dir`]
/// checks this and the other file size limits before reading a file.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Largest [`PROFILE_FILE`] accepted, in bytes (64 MiB).
pub const MAX_PROFILE_BYTES: u64 = 64 << 20;
/// Largest [`WEIGHTS_FILE`] accepted, in bytes (4 GiB).
pub const MAX_WEIGHTS_BYTES: u64 = 4 << 30;
/// Largest [`ONNX_FILE`] accepted, in bytes (2 GiB).
pub const MAX_ONNX_BYTES: u64 = 2 << 30;
/// Largest [`TREES_FILE`] accepted, in bytes (1 GiB).
pub const MAX_TREES_BYTES: u64 = 1 << 30;
/// Largest [`PROVENANCE_FILE`] accepted, in bytes (4 MiB).
pub const MAX_PROVENANCE_BYTES: u64 = 4 << 20;
/// Largest safetensors header accepted.
pub const MAX_HEADER_BYTES: u64 = 16 << 20;

/// A tensor as the manifest declares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// The safetensors dtype name; only `F64` is accepted.
    pub dtype: String,
    /// The tensor's dimensions, as safetensors records them.
    pub shape: Vec<usize>,
}

/// Why a package was refused.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Reading the package directory or one of its files failed.
    #[error("{path}: {source}")]
    Io {
        /// The directory or file being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A name not in [`PACKAGE_FILES`], an entry that is not a regular file
    /// (a subdirectory or symbolic link), or a known file that does not
    /// belong to the model's kind; holds its name.
    #[error("unexpected file {0:?} in the package (a package holds only {files})", files = PACKAGE_FILES.join(", "))]
    Unexpected(String),
    /// A file the package needs is absent; holds its name.
    #[error("the package has no {0}")]
    Missing(&'static str),
    /// A file is larger than its size limit.
    #[error("{file}: {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// The file's name.
        file: String,
        /// Its size, in bytes.
        size: u64,
        /// The limit for that file, in bytes.
        limit: u64,
    },
    /// The manifest is not JSON of the expected shape, names a format other
    /// than [`PACKAGE_FORMAT`], or declares tensors for a kind that has
    /// none; holds the reason.
    #[error("{MANIFEST_FILE}: {0}")]
    Manifest(String),
    /// The safetensors weights are malformed or differ from the tensors the
    /// manifest declares, or could not be encoded; holds the reason.
    #[error("{WEIGHTS_FILE}: {0}")]
    Weights(String),
    /// The reference profile is not valid JSON; holds the parser's message.
    #[error("{PROFILE_FILE}: {0}")]
    Profile(String),
}

/// Tensors by name: shape and values.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f64>)>;

/// A parsed, checked package.
#[derive(Clone, Debug)]
pub struct Package {
    /// The whole manifest as parsed JSON; its `model` section is for the ML
    /// crate to interpret.
    pub manifest: serde_json::Value,
    /// The weights of a native model (empty for ONNX and tree models).
    pub tensors: Tensors,
    /// The reference profile (always present for a native model).
    pub profile: Option<serde_json::Value>,
    /// The self-contained ONNX bytes of an imported model.
    pub onnx: Option<Vec<u8>>,
    /// An imported tree model's file ([`TREES_FILE`]).
    pub trees: Option<Vec<u8>>,
}

fn limit(name: &str) -> Option<u64> {
    match name {
        MANIFEST_FILE => Some(MAX_MANIFEST_BYTES),
        PROFILE_FILE => Some(MAX_PROFILE_BYTES),
        WEIGHTS_FILE => Some(MAX_WEIGHTS_BYTES),
        ONNX_FILE => Some(MAX_ONNX_BYTES),
        TREES_FILE => Some(MAX_TREES_BYTES),
        PROVENANCE_FILE => Some(MAX_PROVENANCE_BYTES),
        _ => None,
    }
}

/// Reads a package directory's files (bounded; symbolic links,
/// subdirectories and unexpected names refused).
pub fn read_dir(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| PackageError::Io { path: p, source: e }
    };
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(io(&path))?;
        let Some(max) = limit(&name).filter(|_| kind.is_file()) else {
            return Err(PackageError::Unexpected(name));
        };
        let size = entry.metadata().map_err(io(&path))?.len();
        if size > max {
            return Err(PackageError::TooLarge {
                file: name,
                size,
                limit: max,
            });
        }
        files.insert(name, std::fs::read(&path).map_err(io(&path))?);
    }
    Ok(files)
}

/// Encodes tensors (name, shape, values) as safetensors F64.
pub fn encode_weights(tensors: &[(String, Vec<usize>, Vec<f64>)]) -> Result<Vec<u8>, PackageError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            TensorView::new(Dtype::F64, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| PackageError::Weights(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::tensor::serialize(views, None).map_err(|e| PackageError::Weights(e.to_string()))
}

/// Decodes safetensors bytes, requiring exactly the `expected` tensors
/// (all F64).
pub fn decode_weights(
    bytes: &[u8],
    expected: &BTreeMap<String, TensorSpec>,
) -> Result<Tensors, PackageError> {
    let bad = |m: String| PackageError::Weights(m);
    let Some(head) = bytes.get(..8) else {
        return Err(bad(format!(
            "{} bytes: too short for a safetensors header",
            bytes.len()
        )));
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(head);
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER_BYTES {
        return Err(bad(format!(
            "header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit"
        )));
    }
    if n > bytes.len() as u64 - 8 {
        return Err(bad(format!(
            "header length {n} runs past the end of the {}-byte file (truncated?)",
            bytes.len()
        )));
    }
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("{e:?}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let spec = expected
            .get(&name)
            .ok_or_else(|| bad(format!("tensor {name:?} is not declared in the manifest")))?;
        if view.dtype() != Dtype::F64 || spec.dtype != "F64" {
            return Err(bad(format!(
                "tensor {name}: dtype {:?}, the manifest declares {}",
                view.dtype(),
                spec.dtype
            )));
        }
        if view.shape() != spec.shape.as_slice() {
            return Err(bad(format!(
                "tensor {name}: shape {:?}, the manifest declares {:?}",
                view.shape(),
                spec.shape
            )));
        }
        let values = view
            .data()
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b)
            })
            .collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    if let Some(missing) = expected.keys().find(|k| !out.contains_key(*k)) {
        return Err(bad(format!(
            "tensor {missing:?} declared in the manifest is missing"
        )));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Envelope {
    format: String,
    #[serde(default)]
    tensors: BTreeMap<String, TensorSpec>,
    model: ModelSection,
}

#[derive(Deserialize)]
struct ModelSection {
    kind: String,
}

/// Parses and checks a package from its files' bytes (which the caller has
/// already checked against a verified signature).
pub fn parse(files: &BTreeMap<String, Vec<u8>>) -> Result<Package, PackageError> {
    if let Some(extra) = files.keys().find(|k| limit(k).is_none()) {
        return Err(PackageError::Unexpected(extra.clone()));
    }
    let get = |name: &'static str| files.get(name).ok_or(PackageError::Missing(name));
    let manifest_bytes = get(MANIFEST_FILE)?;
    for (name, bytes) in files {
        let max = limit(name).unwrap_or(0);
        if bytes.len() as u64 > max {
            return Err(PackageError::TooLarge {
                file: name.clone(),
                size: bytes.len() as u64,
                limit: max,
            });
        }
    }
    let manifest: serde_json::Value = serde_json::from_slice(manifest_bytes)
        .map_err(|e| PackageError::Manifest(e.to_string()))?;
    let env: Envelope = serde_json::from_value(manifest.clone())
        .map_err(|e| PackageError::Manifest(e.to_string()))?;
    if env.format != PACKAGE_FORMAT {
        return Err(PackageError::Manifest(format!(
            "format {:?} is not one this build reads ({PACKAGE_FORMAT})",
            env.format
        )));
    }
    let profile = match files.get(PROFILE_FILE) {
        Some(b) => {
            Some(serde_json::from_slice(b).map_err(|e| PackageError::Profile(e.to_string()))?)
        }
        None => None,
    };
    if TREE_KINDS.contains(&env.model.kind.as_str()) {
        for other in [WEIGHTS_FILE, ONNX_FILE] {
            if files.contains_key(other) {
                return Err(PackageError::Unexpected(other.into()));
            }
        }
        if !env.tensors.is_empty() {
            return Err(PackageError::Manifest(
                "a tree model package declares no safetensors tensors".into(),
            ));
        }
        return Ok(Package {
            manifest,
            tensors: Tensors::new(),
            profile,
            onnx: None,
            trees: Some(get(TREES_FILE)?.clone()),
        });
    }
    if files.contains_key(TREES_FILE) {
        return Err(PackageError::Unexpected(TREES_FILE.into()));
    }
    if env.model.kind == "onnx" {
        if files.contains_key(WEIGHTS_FILE) {
            return Err(PackageError::Unexpected(WEIGHTS_FILE.into()));
        }
        if !env.tensors.is_empty() {
            return Err(PackageError::Manifest(
                "an ONNX package declares no safetensors tensors".into(),
            ));
        }
        return Ok(Package {
            manifest,
            tensors: Tensors::new(),
            profile,
            onnx: Some(get(ONNX_FILE)?.clone()),
            trees: None,
        });
    }
    if files.contains_key(ONNX_FILE) {
        return Err(PackageError::Unexpected(ONNX_FILE.into()));
    }
    let tensors = decode_weights(get(WEIGHTS_FILE)?, &env.tensors)?;
    if profile.is_none() {
        return Err(PackageError::Missing(PROFILE_FILE));
    }
    Ok(Package {
        manifest,
        tensors,
        profile,
        onnx: None,
        trees: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(shape: &[usize]) -> TensorSpec {
        TensorSpec {
            dtype: "F64".into(),
            shape: shape.to_vec(),
        }
    }

    fn sample() -> (Vec<u8>, BTreeMap<String, TensorSpec>) {
        let t = vec![
            ("coef".to_string(), vec![1, 3], vec![0.5, -1.0, 2.0]),
            ("intercept".to_string(), vec![1], vec![0.25]),
        ];
        let expected = [
            ("coef".to_string(), spec(&[1, 3])),
            ("intercept".to_string(), spec(&[1])),
        ]
        .into();
        (encode_weights(&t).unwrap(), expected)
    }

    /// A tree model package holds its model file and nothing of another
    /// kind's; no other package may carry a tree model file.
    #[test]
    fn tree_packages_hold_only_their_model_file() {
        let manifest = |kind: &str| {
            serde_json::to_vec(&serde_json::json!({
                "format": PACKAGE_FORMAT, "model": {"kind": kind}
            }))
            .unwrap()
        };
        let files = |kind: &str, extra: &[(&str, &[u8])]| -> BTreeMap<String, Vec<u8>> {
            let mut f = BTreeMap::from([(MANIFEST_FILE.to_string(), manifest(kind))]);
            for (n, b) in extra {
                f.insert(n.to_string(), b.to_vec());
            }
            f
        };
        let p = parse(&files("xgboost-json", &[(TREES_FILE, b"{}")])).unwrap();
        assert_eq!(p.trees.as_deref(), Some(&b"{}"[..]));
        assert!(p.onnx.is_none() && p.tensors.is_empty());
        let e = parse(&files("lightgbm-text", &[])).unwrap_err().to_string();
        assert!(e.contains(TREES_FILE), "{e}");
        let e = parse(&files(
            "xgboost-ubjson",
            &[(TREES_FILE, b"{}"), (ONNX_FILE, b"x")],
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains(ONNX_FILE), "{e}");
        let e = parse(&files("onnx", &[(ONNX_FILE, b"x"), (TREES_FILE, b"{}")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(TREES_FILE), "{e}");
    }

    #[test]
    fn weights_round_trip_deterministically() {
        let (bytes, expected) = sample();
        assert_eq!(bytes, sample().0);
        let back = decode_weights(&bytes, &expected).unwrap();
        assert_eq!(back["coef"], (vec![1, 3], vec![0.5, -1.0, 2.0]));
    }

    #[test]
    fn hostile_weights_are_refused_with_reasons() {
        let (bytes, expected) = sample();
        let msg = |b: &[u8], e: &BTreeMap<String, TensorSpec>| {
            decode_weights(b, e).unwrap_err().to_string()
        };
        assert!(msg(&bytes[..5], &expected).contains("too short"));
        assert!(msg(&bytes[..40], &expected).contains("truncated"));
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(msg(&huge, &expected).contains("limit"));
        let mut other = expected.clone();
        other.insert("coef".into(), spec(&[3, 1]));
        assert!(msg(&bytes, &other).contains("shape"));
        let mut fewer = expected.clone();
        fewer.remove("intercept");
        assert!(msg(&bytes, &fewer).contains("not declared"));
        let mut more = expected.clone();
        more.insert("extra".into(), spec(&[1]));
        assert!(msg(&bytes, &more).contains("missing"));
        // Cut the data section: the offsets no longer fit.
        assert!(decode_weights(&bytes[..bytes.len() - 8], &expected).is_err());
    }

    proptest::proptest! {
        #[test]
        fn weights_decoding_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let (_, expected) = sample();
            let _ = decode_weights(&bytes, &expected);
        }

        #[test]
        fn a_flipped_bit_in_the_header_is_always_refused(at in 0usize..4096, bit in 0u8..8) {
            // Length prefix or JSON header: refused. Data section: decodes
            // to other values (which the package signature catches).
            let (bytes, expected) = sample();
            let mut n = [0u8; 8];
            n.copy_from_slice(&bytes[..8]);
            let header_end = 8 + u64::from_le_bytes(n) as usize;
            let at = at % bytes.len();
            let mut b = bytes.clone();
            b[at] ^= 1 << bit;
            if let Ok(t) = decode_weights(&b, &expected) {
                proptest::prop_assert!(at >= header_end, "header byte {at} changed, still decoded");
                proptest::prop_assert!(t != decode_weights(&bytes, &expected).unwrap());
            }
        }
    }

    #[test]
    fn packages_hold_exactly_the_known_files() {
        let (bytes, expected) = sample();
        let manifest = serde_json::json!({"format": PACKAGE_FORMAT, "tensors": expected, "model": {"kind": "logreg"}});
        let mut files = BTreeMap::from([
            (
                MANIFEST_FILE.to_string(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
            (WEIGHTS_FILE.to_string(), bytes),
            (PROFILE_FILE.to_string(), b"{}".to_vec()),
        ]);
        assert_eq!(parse(&files).unwrap().tensors.len(), 2);
        files.insert("model.pkl".into(), vec![0x80, 4]);
        assert!(matches!(parse(&files), Err(PackageError::Unexpected(n)) if n == "model.pkl"));
        files.remove("model.pkl");
        files.remove(PROFILE_FILE);
        assert!(matches!(
            parse(&files),
            Err(PackageError::Missing(PROFILE_FILE))
        ));
        files.insert(PROFILE_FILE.into(), b"{}".to_vec());
        let v2 = serde_json::json!({"format": "warden.model/v2", "tensors": expected, "model": {"kind": "logreg"}});
        files.insert(MANIFEST_FILE.into(), serde_json::to_vec(&v2).unwrap());
        assert!(
            parse(&files)
                .unwrap_err()
                .to_string()
                .contains("not one this build reads")
        );
    }
}
