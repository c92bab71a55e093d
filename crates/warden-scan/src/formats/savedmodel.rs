//! TensorFlow SavedModel protobufs (`saved_model.proto`): the graph's and
//! its functions' nodes are checked for ops that read or write files, open
//! sockets or call into Python.

use std::io;

use super::dispatch::Ctx;
use super::protobuf::{self, Msg, PbFacts};
use crate::Severity;
use crate::input::Src;

/// TensorFlow ops that read or write files or call into Python.
const TF_DANGEROUS: &[(&str, &str)] = &[
    ("ReadFile", "reads any file"),
    ("WriteFile", "writes any file"),
    ("MatchingFiles", "lists files"),
    ("PyFunc", "calls Python code"),
    ("PyFuncStateless", "calls Python code"),
    ("EagerPyFunc", "calls Python code"),
    ("ImmutableConst", "maps a file into memory"),
    ("DebugIdentityV2", "writes debug data to files"),
    ("DebugIdentityV3", "writes debug data to files"),
    ("PrintV2", "writes to an output stream that can be a file"),
    ("LoadAndRemapMatrix", "reads checkpoint files"),
    ("FixedLengthRecordReader", "reads files"),
    ("FixedLengthRecordReaderV2", "reads files"),
    ("TextLineReader", "reads files"),
    ("TextLineReaderV2", "reads files"),
    ("WholeFileReader", "reads files"),
    ("WholeFileReaderV2", "reads files"),
    ("TFRecordReader", "reads files"),
    ("TFRecordReaderV2", "reads files"),
    ("WriteSummary", "writes event files"),
    ("CreateSummaryFileWriter", "writes event files"),
    ("Socket", "opens network connections"),
];

/// Scans a SavedModel protobuf of length `len`.
pub(super) fn scan(src: &mut dyn Src, len: u64, ctx: &mut Ctx) -> io::Result<()> {
    let mut facts = PbFacts::default();
    if let Err(e) = protobuf::walk(src, len, Msg::SmRoot, 0, &mut facts, &mut Vec::new()) {
        if matches!(
            e.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        ) {
            ctx.push(
                "savedmodel.malformed",
                Severity::Medium,
                format!("not a well-formed SavedModel protobuf: {e}"),
                None,
            );
            return Ok(());
        }
        return Err(e);
    }
    let mut seen = std::collections::HashSet::new();
    for (node, op) in &facts.ops {
        if let Some((_, why)) = TF_DANGEROUS.iter().find(|(o, _)| o == op)
            && seen.insert((op.clone(), node.clone()))
        {
            let sev = if op.contains("PyFunc") {
                Severity::Critical
            } else {
                Severity::High
            };
            ctx.push(
                "savedmodel.dangerous-op",
                sev,
                format!("node {node:?} runs {op}, which {why}"),
                None,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow::Profile;
    use crate::input::StreamSrc;

    #[test]
    fn savedmodel_readfile_is_found() {
        // NodeDef{name:"r", op:"ReadFile"} in GraphDef in MetaGraphDef in SavedModel.
        let node = [&b"\x0a\x01r\x12\x08ReadFile"[..]].concat();
        let graph = [&[0x0a, node.len() as u8][..], &node].concat();
        let meta = [&[0x12, graph.len() as u8][..], &graph].concat();
        let sm = [&b"\x08\x01"[..], &[0x12, meta.len() as u8], &meta].concat();
        let mut f = Vec::new();
        let mut ctx = Ctx {
            profile: Profile::Auto,
            member: None,
            depth: 0,
            findings: &mut f,
        };
        let mut src = StreamSrc::new(&sm[..]);
        scan(&mut src, sm.len() as u64, &mut ctx).unwrap();
        assert!(
            f.iter()
                .any(|x| x.rule == "savedmodel.dangerous-op" && x.message.contains("ReadFile")),
            "{f:?}"
        );
    }
}
