//! Property tests: the scanners never panic on arbitrary bytes; benign
//! pickles of any shape are clean; one forbidden import anywhere in them is
//! always found, however it is spelled.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use warden_scan::{Profile, Severity, scan_bytes};

#[derive(Clone, Debug)]
enum Val {
    Int(i64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Val>),
    Tuple(Vec<Val>),
    Dict(Vec<(String, Val)>),
    Ordered(Vec<(String, Val)>),
    /// A call of a forbidden callable: os.system(arg), spelled by `how`.
    Evil(u8),
}

fn val() -> impl Strategy<Value = Val> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Val::Int),
        "[a-z]{0,12}".prop_map(Val::Str),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Val::Bytes),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Val::List),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Val::Tuple),
            proptest::collection::vec(("[a-z]{1,6}", inner.clone()), 0..5).prop_map(Val::Dict),
            proptest::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(Val::Ordered),
        ]
    })
}

fn short_str(out: &mut Vec<u8>, s: &str, proto: u8) {
    if proto >= 4 && s.len() < 256 {
        out.push(0x8c);
        out.push(s.len() as u8);
    } else {
        out.push(b'X');
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn global(out: &mut Vec<u8>, module: &str, name: &str, proto: u8, how: u8) {
    match (proto >= 4, how % 3) {
        (true, 1) => {
            short_str(out, module, proto);
            short_str(out, name, proto);
            out.push(0x93);
        }
        (true, 2) => {
            // Through the memo: memoize both strings, drop them, fetch them back.
            short_str(out, module, proto);
            out.extend_from_slice(&[b'r', 0xf0, 0, 0, 0, b'0']);
            short_str(out, name, proto);
            out.extend_from_slice(&[b'r', 0xf1, 0, 0, 0, b'0']);
            out.extend_from_slice(&[b'j', 0xf0, 0, 0, 0, b'j', 0xf1, 0, 0, 0, 0x93]);
        }
        _ => {
            out.push(b'c');
            out.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        }
    }
}

fn emit(v: &Val, out: &mut Vec<u8>, proto: u8) {
    match v {
        Val::Int(i) => {
            out.push(b'\x8a');
            out.push(8);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Val::Str(s) => short_str(out, s, proto),
        Val::Bytes(b) => {
            if proto >= 3 {
                out.push(b'C');
                out.push(b.len() as u8);
                out.extend_from_slice(b);
            } else {
                global(out, "_codecs", "encode", proto, 0);
                let latin: String = b.iter().map(|&c| c as char).collect();
                short_str(out, &latin, proto);
                short_str(out, "latin1", proto);
                out.extend_from_slice(&[0x86, b'R']);
            }
        }
        Val::List(items) => {
            out.extend_from_slice(b"](");
            for x in items {
                emit(x, out, proto);
            }
            out.push(b'e');
        }
        Val::Tuple(items) => {
            out.push(b'(');
            for x in items {
                emit(x, out, proto);
            }
            out.push(b't');
        }
        Val::Dict(items) | Val::Ordered(items) => {
            if matches!(v, Val::Ordered(_)) {
                global(out, "collections", "OrderedDict", proto, 0);
                out.extend_from_slice(b")R");
            } else {
                out.push(b'}');
            }
            out.push(b'(');
            for (k, x) in items {
                short_str(out, k, proto);
                emit(x, out, proto);
            }
            out.push(b'u');
        }
        Val::Evil(how) => {
            global(out, "os", "system", proto, *how);
            short_str(out, "id", proto);
            out.extend_from_slice(&[0x85, b'R']);
        }
    }
}

fn pickle(v: &Val, proto: u8) -> Vec<u8> {
    let mut out = vec![0x80, proto];
    emit(v, &mut out, proto);
    out.push(b'.');
    out
}

/// Puts `evil` somewhere inside `v` (as a list element or dict value).
fn plant(v: Val, evil: Val, at: usize) -> Val {
    match v {
        Val::List(mut xs) => {
            let i = at % (xs.len() + 1);
            xs.insert(i, evil);
            Val::List(xs)
        }
        Val::Dict(mut xs) => {
            let i = at % (xs.len() + 1);
            xs.insert(i, ("k".into(), evil));
            Val::Dict(xs)
        }
        other => Val::List(vec![other, evil]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = scan_bytes(&data, Profile::Auto);
        let mut p = vec![0x80, 4];
        p.extend_from_slice(&data);
        let _ = scan_bytes(&p, Profile::Strict);
    }

    #[test]
    fn benign_pickles_are_clean(v in val(), proto in 2u8..=5) {
        let r = scan_bytes(&pickle(&v, proto), Profile::Strict);
        prop_assert_eq!(r.max_severity(), None, "{:?}", r.files[0].findings);
    }

    #[test]
    fn one_forbidden_import_is_always_found(v in val(), proto in 2u8..=5, how in 0u8..3, at in 0usize..8) {
        let r = scan_bytes(&pickle(&plant(v, Val::Evil(how), at), proto), Profile::Auto);
        prop_assert_eq!(r.max_severity(), Some(Severity::Critical));
        prop_assert!(r.files[0].findings.iter().any(|f| f.message.contains("os.system")));
    }
}
