//! Whether a relative path stored inside a model file stays inside the
//! directory it is resolved against. Two kinds of stored path are checked
//! with it: zip member names (PKWARE APPNOTE.TXT §4.4.17.1: no drive or
//! device letter, no leading slash, forward slashes only) and ONNX
//! external-data locations (relative to the model's directory, per
//! "External Data" in the ONNX docs). One check for both, so a path either
//! reader refuses, the other refuses too.
//!
//! Backslashes count as separators, as Windows readers treat them.

/// Why a stored path would leave its directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathEscape {
    #[error("is an absolute path")]
    Absolute,
    #[error("names a drive")]
    Drive,
    #[error("climbs out of its directory")]
    Parent,
    #[error("contains a NUL byte")]
    Nul,
    #[error("is a URL")]
    Url,
}

impl PathEscape {
    /// The reason as a finding words it; `dir` names the directory the
    /// path must stay in ("the extraction directory").
    pub(crate) fn reason(self, dir: &str) -> String {
        match self {
            PathEscape::Parent => format!("climbs out of {dir}"),
            other => other.to_string(),
        }
    }
}

/// Checks a stored relative path: an absolute path (`/x`, `\x`, `\\host`),
/// a drive (`C:`), a `..` component, a NUL byte and a URL (`scheme://`)
/// are refused, the first that applies in that order.
pub(crate) fn check(path: &str) -> Result<(), PathEscape> {
    let n = path.replace('\\', "/");
    if n.starts_with('/') {
        return Err(PathEscape::Absolute);
    }
    let b = n.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err(PathEscape::Drive);
    }
    if n.split('/').any(|p| p == "..") {
        return Err(PathEscape::Parent);
    }
    if n.contains('\0') {
        return Err(PathEscape::Nul);
    }
    if n.contains("://") {
        return Err(PathEscape::Url);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_escape_either_check_refused_is_refused() {
        for (path, why) in [
            ("/etc/passwd", PathEscape::Absolute),
            ("\\windows\\system32", PathEscape::Absolute),
            ("\\\\server\\share\\x", PathEscape::Absolute),
            ("C:\\Windows\\x.dll", PathEscape::Drive),
            ("c:relative", PathEscape::Drive),
            ("../../etc/passwd", PathEscape::Parent),
            ("a/../../b", PathEscape::Parent),
            ("a\\..\\..\\b", PathEscape::Parent),
            ("..", PathEscape::Parent),
            ("a/b/..", PathEscape::Parent),
            ("weights\0.bin", PathEscape::Nul),
            ("https://example.com/w.bin", PathEscape::Url),
            ("s3://bucket/w.bin", PathEscape::Url),
        ] {
            assert_eq!(check(path), Err(why), "{path:?}");
        }
        for path in [
            "weights.bin",
            "archive/data.pkl",
            "data\\0",
            "./w.bin",
            "a/.../b",
            "..hidden",
            "x..",
            "dir/..name/file",
        ] {
            assert_eq!(check(path), Ok(()), "{path:?}");
        }
    }

    #[test]
    fn reasons_keep_the_findings_wording() {
        assert_eq!(
            PathEscape::Parent.reason("the extraction directory"),
            "climbs out of the extraction directory"
        );
        assert_eq!(
            PathEscape::Parent.reason("the model directory"),
            "climbs out of the model directory"
        );
        assert_eq!(PathEscape::Absolute.reason("x"), "is an absolute path");
        assert_eq!(PathEscape::Drive.reason("x"), "names a drive");
        assert_eq!(PathEscape::Nul.reason("x"), "contains a NUL byte");
        assert_eq!(PathEscape::Url.reason("x"), "is a URL");
    }

    /// A path component that is neither empty nor `..`, with no separator,
    /// colon or NUL.
    fn component() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_. -]{1,12}".prop_filter("not a parent component", |c| c != "..")
    }

    fn separator() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("/"), Just("\\")]
    }

    /// Components joined by random separators.
    fn relative() -> impl Strategy<Value = String> {
        proptest::collection::vec((component(), separator()), 1..8).prop_map(|parts| {
            let mut s = String::new();
            for (i, (c, sep)) in parts.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                s.push_str(c);
            }
            s
        })
    }

    proptest! {
        #[test]
        fn plain_relative_names_are_accepted(path in relative()) {
            prop_assert_eq!(check(&path), Ok(()));
        }

        #[test]
        fn a_parent_component_is_always_rejected(
            before in proptest::collection::vec(component(), 0..4),
            after in proptest::collection::vec(component(), 0..4),
            sep in separator(),
        ) {
            let mut parts = before;
            parts.push("..".to_string());
            parts.extend(after);
            let path = parts.join(sep);
            prop_assert_eq!(check(&path), Err(PathEscape::Parent), "{:?}", path);
        }

        #[test]
        fn an_absolute_root_is_always_rejected(
            root in prop_oneof![
                Just("/"), Just("\\"), Just("//"), Just("\\\\"),
                Just("C:/"), Just("c:\\"), Just("Z:"),
            ],
            rest in relative(),
        ) {
            let path = format!("{root}{rest}");
            prop_assert!(
                matches!(check(&path), Err(PathEscape::Absolute | PathEscape::Drive)),
                "{:?}", path
            );
        }
    }
}
