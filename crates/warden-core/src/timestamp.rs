//! UTC timestamps written as RFC 3339 with microseconds, e.g.
//! `2026-11-22T03:04:05.123456Z`. The textual form is what is hashed, so it
//! is fixed-width and always UTC.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time, stored as its canonical RFC 3339 text.
#[derive(
    Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// The current time. The date and time up to the second are formatted
    /// once per second per thread and reused (the server stamps every
    /// request); the text is the same as formatting from scratch.
    pub fn now() -> Self {
        use std::cell::RefCell;
        use std::fmt::Write as _;
        thread_local! {
            static PREFIX: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
        }
        let t = OffsetDateTime::now_utc();
        let secs = t.unix_timestamp();
        PREFIX.with(|p| {
            let mut p = p.borrow_mut();
            if p.0 != secs {
                let full = Self::from_datetime(t);
                // Everything before the microseconds: `YYYY-MM-DDTHH:MM:SS.`
                p.1 = full.0[..full.0.len() - 7].to_string();
                p.0 = secs;
            }
            let mut out = String::with_capacity(p.1.len() + 7);
            out.push_str(&p.1);
            let _ = write!(out, "{:06}Z", t.microsecond());
            Timestamp(out)
        })
    }

    fn from_datetime(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        Timestamp(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ))
    }

    /// This time plus `seconds` (saturating at the calendar's end).
    pub fn plus_seconds(&self, seconds: i64) -> Option<Self> {
        let t = OffsetDateTime::parse(&self.0, &Rfc3339).ok()?;
        t.checked_add(time::Duration::seconds(seconds))
            .map(Self::from_datetime)
    }

    /// Parses any RFC 3339 time and normalises it.
    pub fn parse(s: &str) -> Option<Self> {
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .map(Self::from_datetime)
    }

    /// The fixed-width RFC 3339 text that is hashed and stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> Option<i64> {
        OffsetDateTime::parse(&self.0, &Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_from_the_cached_prefix_has_the_canonical_form() {
        for _ in 0..3 {
            let a = Timestamp::now();
            let parsed = OffsetDateTime::parse(a.as_str(), &Rfc3339).unwrap();
            assert_eq!(Timestamp::from_datetime(parsed), a);
            assert_eq!(a.as_str().len(), "2026-11-22T03:04:05.123456Z".len());
            std::thread::sleep(std::time::Duration::from_millis(600));
        }
    }

    #[test]
    fn normalises_to_utc_microseconds() {
        let t = Timestamp::parse("2026-11-22T04:00:00+01:00").unwrap();
        assert_eq!(t.as_str(), "2026-11-22T03:00:00.000000Z");
        assert_eq!(Timestamp::now().as_str().len(), 27);
        assert!(Timestamp::parse("yesterday").is_none());
    }
}
