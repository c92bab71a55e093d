//! Recognising a file by its bytes and sending it to the right scanner:
//! pickle (and legacy PyTorch, joblib, compressed joblib), zip containers,
//! NumPy `.npy`, safetensors, GGUF, HDF5/Keras, Keras v3 configs, ONNX and
//! TensorFlow SavedModel protobufs, notebooks and text.
//!
//! Header formats are checked without reading tensor data: sizes and
//! counts are compared with the file length before anything is allocated.
//!
//! Layout: `detect` names the format from the first bytes and `dispatch`
//! routes the content to the module of that format (`pickled`, `zip`,
//! `npy`, `safetensors`, `gguf`, `keras`, `onnx`, `savedmodel`, `text`).
//! A format module never calls another one: content nested inside it (an
//! archive member, bytes in a gap, a Keras configuration in an archive)
//! goes back through `dispatch`. Shared machinery: `compress`
//! (decompression, bounded), `protobuf` (the wire-format walk that ONNX
//! and SavedModel share), and the crate's path-escape check, which zip
//! member names and ONNX external-data locations both go through.

mod compress;
mod detect;
mod dispatch;
mod gguf;
mod keras;
mod npy;
mod onnx;
mod pickled;
mod protobuf;
mod safetensors;
mod savedmodel;
#[cfg(test)]
mod testutil;
mod text;
mod zip;

pub(crate) use dispatch::{scan_file, scan_nested, scan_nested_top};
