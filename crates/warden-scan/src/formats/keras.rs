//! Keras models: the model configuration JSON of a Keras v3 archive
//! (`config.json` in a `.keras` zip, handed over by the archive reader) and
//! of a legacy HDF5 `.h5` file (stored in an attribute, found by its
//! `{"class_name"` opening rather than by walking HDF5 structures). Lambda
//! layers with serialized bytecode and layers that load modules from
//! outside Keras are findings.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use super::dispatch::Ctx;
use crate::Severity;

/// Scans an HDF5 file for Keras model configurations.
pub(super) fn scan_hdf5(file: &mut File, len: u64, ctx: &mut Ctx) -> io::Result<()> {
    let finder = memchr::memmem::Finder::new(b"{\"class_name\"");
    let mut buf = vec![0u8; 4 << 20];
    let mut base = 0u64;
    let mut carry = 0usize;
    let mut found = 0usize;
    file.seek(SeekFrom::Start(0))?;
    loop {
        let n = file.read(&mut buf[carry..])?;
        if n == 0 {
            break;
        }
        let filled = carry + n;
        let mut pos = 0;
        while let Some(i) = finder.find(&buf[pos..filled]) {
            let at = base + (pos + i) as u64;
            found += 1;
            let mut r = file.try_clone()?;
            r.seek(SeekFrom::Start(at))?;
            let mut json = Vec::new();
            r.take((64u64 << 20).min(len - at)).read_to_end(&mut json)?;
            let mut it =
                serde_json::Deserializer::from_slice(&json).into_iter::<serde_json::Value>();
            if let Some(Ok(v)) = it.next() {
                keras_value(&v, &mut ctx.sub(format!("model config at byte {at}")));
                pos += i + it.byte_offset().max(1);
            } else {
                pos += i + 1;
            }
            if pos >= filled {
                break;
            }
        }
        let keep = 16.min(filled);
        buf.copy_within(filled - keep..filled, 0);
        base += (filled - keep) as u64;
        carry = keep;
        if found > 64 {
            break;
        }
    }
    Ok(())
}

/// Checks a Keras model configuration (config.json of a .keras archive).
pub(super) fn scan_config(bytes: &[u8], ctx: &mut Ctx) {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => keras_value(&v, ctx),
        Err(e) => ctx.push(
            "keras.malformed",
            Severity::Medium,
            format!("config.json is not valid JSON: {e}"),
            None,
        ),
    }
}

const KERAS_MODULES: &[&str] = &[
    "keras",
    "tensorflow",
    "tf_keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
    "tensorflow_hub",
];

fn keras_value(v: &serde_json::Value, ctx: &mut Ctx) {
    fn walk(v: &serde_json::Value, ctx: &mut Ctx, path: &str, depth: u32) {
        if depth > 64 {
            return;
        }
        match v {
            serde_json::Value::Object(m) => {
                let class = m.get("class_name").and_then(|c| c.as_str()).unwrap_or("");
                let name = m
                    .get("config")
                    .and_then(|c| c.get("name"))
                    .and_then(|n| n.as_str())
                    .unwrap_or(path);
                if class == "Lambda" {
                    let bytecode =
                        m.get("config")
                            .and_then(|c| c.get("function"))
                            .is_some_and(|f| {
                                f.is_array()
                                    || f.get("class_name").and_then(|c| c.as_str())
                                        == Some("__lambda__")
                                    || f.is_string() && f.as_str().is_some_and(|s| s.len() > 40)
                            });
                    let (sev, what) = if bytecode {
                        (
                            Severity::Critical,
                            "holds serialized Python bytecode that runs when the model loads",
                        )
                    } else {
                        (
                            Severity::High,
                            "calls a Python function when the model runs",
                        )
                    };
                    ctx.push(
                        "keras.lambda",
                        sev,
                        format!("Lambda layer {name:?} {what}"),
                        None,
                    );
                }
                if let Some(module) = m.get("module").and_then(|x| x.as_str()) {
                    let top = module.split('.').next().unwrap_or("");
                    if !(KERAS_MODULES.contains(&top)
                        || top == "builtins" && class.starts_with("__"))
                    {
                        let v = crate::allow::verdict(
                            module,
                            if class.is_empty() { "?" } else { class },
                        );
                        let sev = if v.severity >= Severity::High {
                            Severity::Critical
                        } else {
                            Severity::Medium
                        };
                        ctx.push(
                            "keras.module-reference",
                            sev,
                            format!("layer {name:?} loads {module}.{class}: code from outside Keras runs when the model loads"),
                            None,
                        );
                    }
                }
                if m.get("function_type").and_then(|x| x.as_str()) == Some("lambda")
                    && class != "Lambda"
                {
                    ctx.push(
                        "keras.lambda",
                        Severity::Critical,
                        format!("{name:?} carries serialized Python bytecode"),
                        None,
                    );
                }
                for (k, x) in m {
                    walk(x, ctx, k, depth + 1);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, ctx, path, depth + 1)),
            _ => {}
        }
    }
    walk(v, ctx, "model", 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow::Profile;

    #[test]
    fn keras_lambda_is_found() {
        let cfg = br#"{"class_name":"Sequential","config":{"layers":[{"module":"keras.layers","class_name":"Lambda","config":{"name":"evil","function":{"class_name":"__lambda__","config":{"code":"4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMIAAAAdABkAYMBUwCpAk4="}}}},{"module":"os","class_name":"system","config":{"name":"x"}}]}}"#;
        let mut f = Vec::new();
        let mut ctx = Ctx {
            profile: Profile::Auto,
            member: None,
            depth: 0,
            findings: &mut f,
        };
        scan_config(cfg, &mut ctx);
        assert!(
            f.iter()
                .any(|x| x.rule == "keras.lambda" && x.severity == Severity::Critical),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|x| x.rule == "keras.module-reference" && x.severity == Severity::Critical),
            "{f:?}"
        );
    }
}
