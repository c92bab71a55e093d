//! `lineage MODEL@N`: model → package files → dataset versions → their
//! sources and transforms, as nodes and edges (text, JSON, Graphviz DOT).

use serde::Serialize;
use serde_json::Value;
use warden_core::{Action, VersionRef};

use crate::{Error, Workspace};

/// One node of a [`ModelLineage`] (re-exported as `LineageGraphNode`).
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Unique within the graph, and what edges name: `model:NAME@V`,
    /// `model:NAME@V/FILE`, `dataset:NAME@V`, `dataset:NAME@V/table`,
    /// `source:…`, and so on.
    pub id: String,
    /// `model`, `file`, `signature`, `source`, `dataset-version`, `table`,
    /// `transform`, `schema` or `pii-policy`.
    pub kind: String,
    /// What to show: a file or version name, or who signed.
    pub label: String,
    /// The node's `sha256:` digest; empty for a previous dataset version,
    /// which is named but not looked up.
    pub digest: String,
}

/// A lineage graph; edges point from a thing to what it was made from.
#[derive(Debug, Clone, Serialize)]
pub struct ModelLineage {
    /// The root node's id, `model:NAME@V`.
    pub model: String,
    /// Every node once, in the order found.
    pub nodes: Vec<Node>,
    /// `(from, to)` node ids.
    pub edges: Vec<(String, String)>,
}

impl ModelLineage {
    fn add(&mut self, id: &str, kind: &str, label: &str, digest: &str) {
        if !self.nodes.iter().any(|n| n.id == id) {
            self.nodes.push(Node {
                id: id.into(),
                kind: kind.into(),
                label: label.into(),
                digest: digest.into(),
            });
        }
    }

    fn edge(&mut self, from: &str, to: &str) {
        self.edges.push((from.to_string(), to.to_string()));
    }

    /// Graphviz DOT (`dot -Tsvg` draws it).
    pub fn to_dot(&self) -> String {
        let q = |s: &str| Value::String(s.to_string()).to_string();
        let mut s = String::from(
            "digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans-serif\"];\n",
        );
        for n in &self.nodes {
            let short = n
                .digest
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>();
            s += &format!(
                "  {} [label={}];\n",
                q(&n.id),
                q(&format!("{}\n{}\n{short}", n.kind, n.label))
            );
        }
        for (a, b) in &self.edges {
            s += &format!("  {} -> {};\n", q(a), q(b));
        }
        s += "}\n";
        s
    }

    /// An indented text tree from the model down.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![(self.model.clone(), 0usize)];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((id, depth)) = stack.pop() {
            if let Some(n) = self.nodes.iter().find(|n| n.id == id) {
                out += &format!(
                    "{}{} {} {}\n",
                    "  ".repeat(depth),
                    n.kind,
                    n.label,
                    n.digest
                );
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            for (a, b) in self.edges.iter().rev() {
                if *a == id {
                    stack.push((b.clone(), depth + 1));
                }
            }
        }
        out
    }
}

impl Workspace {
    /// The lineage of `MODEL@N`.
    pub fn model_lineage(&self, r: &VersionRef) -> Result<ModelLineage, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let label = format!("{}@{}", m.name, m.version);
        let title = format!("model:{label}");
        let mut g = ModelLineage {
            model: title.clone(),
            nodes: Vec::new(),
            edges: Vec::new(),
        };
        g.add(&title, "model", &label, &m.digest);
        let files = crate::stored::model_files(&m)?;
        for (f, d) in &files {
            let id = format!("{title}/{f}");
            g.add(&id, "file", f, d);
            g.edge(&title, &id);
        }
        g.add(
            &format!("{title}/signature"),
            "signature",
            &format!("signed by {}", m.signed_by),
            &m.signature_digest,
        );
        g.edge(&title, &format!("{title}/signature"));
        let man = crate::stored::model_manifest(&m)?;
        if let Some(src) = &man.provenance.source {
            let id = format!("source:{}", src.file);
            g.add(&id, "source", &src.file, &src.digest);
            g.edge(&title, &id);
        }
        for d in &man.provenance.datasets {
            let label = d.reference.as_str();
            let Ok(vr) = label.parse::<VersionRef>() else {
                continue;
            };
            let rf = &format!("dataset:{label}");
            g.add(rf, "dataset-version", label, &d.digest);
            g.edge(&title, rf);
            if let Some(rec) = self.store().read()?.dataset(&vr.name, vr.version)? {
                let dm = crate::stored::dataset_manifest(&rec)?;
                let table = format!("{rf}/table");
                g.add(&table, "table", "canonical table", &rec.output_digest);
                g.edge(rf, &table);
                let transform = format!("{rf}/transform");
                g.add(&transform, "transform", "ingest", &dm.transform.digest);
                g.edge(&table, &transform);
                let source = format!("source:{}", rec.source_digest);
                g.add(&source, "source", &dm.source.name, &rec.source_digest);
                g.edge(&transform, &source);
                let spec = &dm.transform.spec;
                for (kind, digest) in [
                    ("schema", &spec.schema_digest),
                    ("pii-policy", &spec.pii_policy_digest),
                ] {
                    if let Some(dg) = digest {
                        let id = format!("{rf}/{kind}");
                        g.add(&id, kind, kind, dg);
                        g.edge(&transform, &id);
                    }
                }
                if let Some(prev) = &dm.lineage.previous_version {
                    let id = format!("dataset:{prev}");
                    g.add(&id, "dataset-version", prev, "");
                    g.edge(rf, &id);
                }
            }
        }
        Ok(g)
    }
}
