//! UTC timestamps written as RFC 3339 with microseconds, e.g.
//! `2026-11-22T03:04:05.123456Z`. The textual form is what is hashed, so it
//! is fixed-width and always UTC.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time, stored as its canonical RFC 3339 text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
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
    fn normalises_to_utc_microseconds() {
        let t = Timestamp::parse("2026-11-22T04:00:00+01:00").unwrap();
        assert_eq!(t.as_str(), "2026-11-22T03:00:00.000000Z");
        assert_eq!(Timestamp::now().as_str().len(), 27);
        assert!(Timestamp::parse("yesterday").is_none());
    }
}
