//! Validated names. Parse, don't validate: once a value is an [`ActorName`],
//! [`RoleName`] or [`KeyName`], every later layer can rely on its shape
//! (safe as a file name, a SQL value, a Rego string and a log field).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that is not a valid name of the given kind.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind} name {value:?}: {rule}")]
pub struct NameError {
    /// Which kind of name (`actor`, `role`, …).
    pub kind: &'static str,
    /// The text that was refused.
    pub value: String,
    /// What a valid name looks like.
    pub rule: &'static str,
}

fn check(
    kind: &'static str,
    value: &str,
    max: usize,
    first: fn(u8) -> bool,
    rest: fn(u8) -> bool,
    rule: &'static str,
) -> Result<(), NameError> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= max
        && first(bytes[0])
        && bytes[1..].iter().all(|&b| rest(b));
    if ok {
        Ok(())
    } else {
        Err(NameError {
            kind,
            value: value.to_string(),
            rule,
        })
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal, $max:literal, $first:expr, $rest:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Validates `value` as this kind of name.
            pub fn new(value: &str) -> Result<Self, NameError> {
                check($kind, value, $max, $first, $rest, $rule)?;
                Ok(Self(value.to_string()))
            }
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": $max,
                    "description": $rule,
                })
            }
        }
    };
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn lower(b: u8) -> bool {
    b.is_ascii_lowercase()
}

name_type!(
    /// Who did something: a person, a service account or a pipeline.
    ActorName, "actor", 128, alnum,
    |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'),
    "1 to 128 characters: letters, digits and . _ - @ +, starting with a letter or digit"
);
name_type!(
    /// A role in the authorisation policy, such as `ml-engineer`.
    RoleName, "role", 64, lower,
    |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_',
    "1 to 64 characters: lowercase letters, digits, - and _, starting with a letter"
);
name_type!(
    /// The name of a signing key or a trusted public key.
    KeyName, "key", 64, alnum,
    |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'),
    "1 to 64 characters: letters, digits and . _ -, starting with a letter or digit"
);

name_type!(
    /// The name of a dataset or a model, as in `credit@3`.
    ObjectName, "dataset or model", 64, |b| b.is_ascii_lowercase() || b.is_ascii_digit(),
    |b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'),
    "1 to 64 characters: lowercase letters, digits and . _ -, starting with a letter or digit"
);

/// `NAME@V`, or `NAME` for the latest version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRef {
    /// The dataset's or model's name.
    pub name: ObjectName,
    /// The version; `None` for the latest.
    pub version: Option<u64>,
}

impl FromStr for VersionRef {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let (name, version) = match s.split_once('@') {
            None => (s, None),
            Some((n, v)) => {
                let v = v
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| NameError {
                        kind: "version",
                        value: s.to_string(),
                        rule: "NAME@V needs a version number V of 1 or more",
                    })?;
                (n, Some(v))
            }
        };
        Ok(VersionRef {
            name: ObjectName::new(name)?,
            version,
        })
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        assert!(ActorName::new("ana").is_ok());
        assert!(ActorName::new("ci-bot@example.com").is_ok());
        assert!(ActorName::new("").is_err());
        assert!(ActorName::new("-ana").is_err());
        assert!(ActorName::new("ana lee").is_err());
        assert!(ActorName::new(&"a".repeat(129)).is_err());
        assert!(RoleName::new("ml-engineer").is_ok());
        assert!(RoleName::new("Admin").is_err());
        assert!(RoleName::new("9lives").is_err());
        assert!(KeyName::new("pipeline").is_ok());
        assert!(KeyName::new("../etc/passwd").is_err());
        assert!(KeyName::new("a/b").is_err());
        let r: VersionRef = "credit@3".parse().unwrap();
        assert_eq!((r.name.as_str(), r.version), ("credit", Some(3)));
        assert_eq!("credit".parse::<VersionRef>().unwrap().version, None);
        assert!("credit@0".parse::<VersionRef>().is_err());
        assert!("credit@x".parse::<VersionRef>().is_err());
        assert!("Credit@1".parse::<VersionRef>().is_err());
        let e = RoleName::new("Admin").unwrap_err();
        assert!(e.to_string().contains("invalid role name \"Admin\""));
    }

    proptest::proptest! {
        #[test]
        fn key_names_never_contain_path_separators(s in ".{0,80}") {
            if let Ok(k) = KeyName::new(&s) {
                proptest::prop_assert!(!k.as_str().contains('/') && !k.as_str().contains('\\'));
                proptest::prop_assert!(!k.as_str().starts_with('.'));
            }
        }
    }
}
