//! The protobuf wire format (protobuf.dev, "Encoding": varints, tags of
//! field number and wire type, length-delimited fields) walked as a
//! stream: it descends only into the messages that matter to ONNX
//! (`onnx.proto`: ModelProto, GraphProto, NodeProto, AttributeProto,
//! TensorProto, SparseTensorProto, StringStringEntryProto, FunctionProto)
//! and SavedModel (`saved_model.proto`, `meta_graph.proto`, `graph.proto`,
//! `function.proto`, `node_def.proto`), and skips every other payload
//! without reading it.

use std::io;

use crate::input::{Src, read_vec};

/// The messages the walk descends into (`Onnx…` from `onnx.proto`, `Sm…`
/// from the SavedModel protos).
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Msg {
    OnnxModel,
    OnnxGraph,
    OnnxNode,
    OnnxAttr,
    OnnxTensor,
    OnnxSparse,
    OnnxEntry,
    OnnxFunction,
    SmRoot,
    SmMeta,
    SmGraph,
    SmLibrary,
    SmFunction,
    SmNode,
}

fn child(m: Msg, field: u64) -> Option<Msg> {
    use Msg::*;
    Some(match (m, field) {
        (OnnxModel, 7) => OnnxGraph,
        (OnnxModel, 25) => OnnxFunction,
        (OnnxGraph, 1) => OnnxNode,
        (OnnxGraph, 5) => OnnxTensor,
        (OnnxGraph, 15) => OnnxSparse,
        (OnnxNode, 5) => OnnxAttr,
        (OnnxAttr, 5) | (OnnxAttr, 10) => OnnxTensor,
        (OnnxAttr, 6) | (OnnxAttr, 11) => OnnxGraph,
        (OnnxAttr, 22) | (OnnxAttr, 23) => OnnxSparse,
        (OnnxSparse, 1) | (OnnxSparse, 2) => OnnxTensor,
        (OnnxTensor, 13) => OnnxEntry,
        (OnnxFunction, 7) => OnnxNode,
        (SmRoot, 2) => SmMeta,
        (SmMeta, 2) => SmGraph,
        (SmGraph, 1) => SmNode,
        (SmGraph, 2) => SmLibrary,
        (SmLibrary, 1) => SmFunction,
        (SmFunction, 3) => SmNode,
        _ => return None,
    })
}

/// Strings worth reading: (message, field).
fn wanted_string(m: Msg, field: u64) -> bool {
    use Msg::*;
    matches!(
        (m, field),
        (OnnxNode, 4)
            | (OnnxNode, 7)
            | (OnnxEntry, 1)
            | (OnnxEntry, 2)
            | (OnnxTensor, 8)
            | (SmNode, 1)
            | (SmNode, 2)
    )
}

#[derive(Default)]
pub(super) struct PbFacts {
    /// (tensor name, location) of external data.
    pub(super) external: Vec<(String, String)>,
    /// Operator domains of ONNX nodes.
    pub(super) domains: Vec<String>,
    /// (node name, op) of SavedModel nodes.
    pub(super) ops: Vec<(String, String)>,
}

fn read_varint(src: &mut dyn Src) -> io::Result<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = read_vec(src, 1)?[0];
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "varint longer than 10 bytes",
    ))
}

/// Walks message `m` from the source's position to `end`, gathering
/// [`PbFacts`]; `cur` collects the wanted strings of the message itself.
pub(super) fn walk(
    src: &mut dyn Src,
    end: u64,
    m: Msg,
    depth: u32,
    facts: &mut PbFacts,
    cur: &mut Vec<(u64, String)>,
) -> io::Result<()> {
    if depth > 64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "messages nested deeper than 64",
        ));
    }
    while src.pos() < end {
        let tag = read_varint(src)?;
        let field = tag >> 3;
        match tag & 7 {
            0 => {
                read_varint(src)?;
            }
            1 => {
                read_vec(src, 8)?;
            }
            5 => {
                read_vec(src, 4)?;
            }
            2 => {
                let n = read_varint(src)?;
                if src.pos().saturating_add(n) > end {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("field {field} of {n} bytes runs past its message"),
                    ));
                }
                if let Some(c) = child(m, field) {
                    let mut inner = Vec::new();
                    let sub_end = src.pos() + n;
                    walk(src, sub_end, c, depth + 1, facts, &mut inner)?;
                    match c {
                        Msg::OnnxEntry => {
                            let key = inner
                                .iter()
                                .find(|(f, _)| *f == 1)
                                .map(|x| x.1.clone())
                                .unwrap_or_default();
                            if key == "location" {
                                let val = inner
                                    .iter()
                                    .find(|(f, _)| *f == 2)
                                    .map(|x| x.1.clone())
                                    .unwrap_or_default();
                                cur.push((1000, val));
                            }
                        }
                        Msg::OnnxTensor => {
                            let name = inner
                                .iter()
                                .find(|(f, _)| *f == 8)
                                .map(|x| x.1.clone())
                                .unwrap_or_default();
                            for (f, v) in &inner {
                                if *f == 1000 {
                                    facts.external.push((name.clone(), v.clone()));
                                }
                            }
                        }
                        Msg::OnnxNode => {
                            if let Some((_, d)) = inner.iter().find(|(f, _)| *f == 7)
                                && !facts.domains.contains(d)
                            {
                                facts.domains.push(d.clone());
                            }
                        }
                        Msg::SmNode => {
                            let name = inner
                                .iter()
                                .find(|(f, _)| *f == 1)
                                .map(|x| x.1.clone())
                                .unwrap_or_default();
                            let op = inner
                                .iter()
                                .find(|(f, _)| *f == 2)
                                .map(|x| x.1.clone())
                                .unwrap_or_default();
                            facts.ops.push((name, op));
                        }
                        _ => {}
                    }
                } else if wanted_string(m, field) && n <= 1 << 20 {
                    let b = read_vec(src, n as usize)?;
                    cur.push((field, String::from_utf8_lossy(&b).into_owned()));
                } else if src.skip(n)? < n {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"));
                }
            }
            w => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("wire type {w} (field {field}) is not valid"),
                ));
            }
        }
    }
    if src.pos() != end {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a field runs past the end of its message",
        ));
    }
    Ok(())
}
