//! CloudTrail's `eventVersion`: `major.minor`, compared as a pair of integers (so `1.10` is newer
//! than `1.9`, which a float or a string comparison gets wrong).

use std::fmt;
use std::str::FromStr;

/// A parsed `eventVersion`. Ordered by major, then minor; `1.08` and `1.8` are the same version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventVersion {
    /// The part before the dot.
    pub major: u32,
    /// The part after the dot (`0` when there is none).
    pub minor: u32,
}

impl EventVersion {
    /// The newest version this code was written against (CloudTrail's record contents page
    /// documents 1.11). Newer records are still stored: the extraction only relies on fields
    /// that every version has, and unknown fields are ignored.
    pub const NEWEST_KNOWN: Self = Self::new(1, 11);

    /// A version from its two numbers.
    #[must_use]
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

/// An `eventVersion` that is not `major` or `major.minor` in decimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("eventVersion {0:?} is not <major>.<minor>")]
pub struct BadEventVersion(pub String);

impl FromStr for EventVersion {
    type Err = BadEventVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = |part: &str| -> Option<u32> {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        let parsed = match s.trim().split_once('.') {
            Some((major, minor)) => number(major).zip(number(minor)),
            None => number(s.trim()).map(|major| (major, 0)),
        };
        parsed
            .map(|(major, minor)| Self { major, minor })
            .ok_or_else(|| BadEventVersion(s.to_owned()))
    }
}

impl fmt::Display for EventVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // CloudTrail writes the minor version with two digits: 1.08, 1.11.
        write!(f, "{}.{:02}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> EventVersion {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn versions_compare_as_integers_not_as_floats_or_text() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("1.10") > v("1.09"));
        assert!(v("1.11") > v("1.10"));
        assert!(v("2.0") > v("1.99"));
        assert!(v("1.01") < v("1.05"));
        assert_eq!(v("1.08"), v("1.8"));
        assert_eq!(v("1"), EventVersion::new(1, 0));
        let mut all: Vec<EventVersion> = ["1.10", "1.02", "1.9", "1.11", "1.0", "1.08"]
            .into_iter()
            .map(v)
            .collect();
        all.sort();
        let text: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["1.00", "1.02", "1.08", "1.09", "1.10", "1.11"]);
    }

    #[test]
    fn every_published_version_parses_and_none_is_newer_than_the_newest_known() {
        for minor in 0..=11 {
            let text = format!("1.{minor:02}");
            let parsed = v(&text);
            assert_eq!(parsed, EventVersion::new(1, minor));
            assert_eq!(parsed.to_string(), text);
            assert!(parsed <= EventVersion::NEWEST_KNOWN, "{text}");
        }
        assert!(v("1.12") > EventVersion::NEWEST_KNOWN);
    }

    #[test]
    fn malformed_versions_are_errors() {
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "1.2.3",
            "v1.0",
            "1.-1",
            "1,08",
            "1.0a",
            "99999999999.0",
        ] {
            assert_eq!(
                bad.parse::<EventVersion>(),
                Err(BadEventVersion(bad.to_owned())),
                "{bad:?}"
            );
        }
    }
}
