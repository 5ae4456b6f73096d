//! Delivery days: a [`Day`] as in CloudTrail's `YYYY/MM/DD/` folders (always a real date), and
//! the [`DayRange`] of `--since`/`--until` that decides which year, month and day folders are
//! worth listing.

use std::fmt;

use jiff::civil::Date;

use super::error::BackfillError;

/// A calendar day (UTC), as in CloudTrail's `YYYY/MM/DD/` folders: always a real date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(Date);

impl Day {
    /// Parses `YYYY-MM-DD`, a date that exists (`2024-02-29`, never `2023-02-29` or
    /// `2024-02-31`).
    ///
    /// # Errors
    /// [`BackfillError::BadDate`] when the text is not such a date.
    pub fn parse(text: &str) -> Result<Self, BackfillError> {
        let bad = |source| BackfillError::BadDate {
            text: text.to_owned(),
            source,
        };
        // jiff reads the values; the layout is checked first because jiff also takes other
        // ISO 8601 forms (`20240305`, `+002024-03-05`, a time after the date).
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad(None));
        }
        text.parse().map(Self).map_err(|e| bad(Some(e)))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Inclusive bounds on delivery days; either may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub since: Option<Day>,
    /// Last day.
    pub until: Option<Day>,
}

impl DayRange {
    /// Whether any day of `first..=last` is in range.
    fn meets(&self, first: Date, last: Date) -> bool {
        self.since.is_none_or(|s| s.0 <= last) && self.until.is_none_or(|u| first <= u.0)
    }

    /// Whether any day of `year` is in range.
    #[must_use]
    pub fn has_year(&self, year: u16) -> bool {
        date(year, 1, 1).is_some_and(|first| self.meets(first, first.last_of_year()))
    }

    /// Whether any day of `year`-`month` is in range (none of a month that does not exist).
    #[must_use]
    pub fn has_month(&self, year: u16, month: u8) -> bool {
        date(year, month, 1).is_some_and(|first| self.meets(first, first.last_of_month()))
    }

    /// Whether the day is in range (never a day that does not exist, such as February 31st).
    #[must_use]
    pub fn has_day(&self, year: u16, month: u8, day: u8) -> bool {
        date(year, month, day).is_some_and(|d| self.meets(d, d))
    }
}

/// The date, if it exists (and is within jiff's years, -9999 to 9999).
fn date(year: u16, month: u8, day: u8) -> Option<Date> {
    let year = i16::try_from(year).ok()?;
    let (month, day) = (i8::try_from(month).ok()?, i8::try_from(day).ok()?);
    Date::new(year, month, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        Day::parse(s).expect("date")
    }

    #[test]
    fn dates_parse_and_order() {
        assert_eq!(day("2024-03-05"), Day(jiff::civil::date(2024, 3, 5)));
        assert!(day("2024-03-05") < day("2024-03-06") && day("2023-12-31") < day("2024-01-01"));
        for bad in [
            "2024-3-5",
            "2024/03/05",
            "2024-13-01",
            "2024-00-10",
            "x",
            "2024-03-05T00",
            // Days that do not exist.
            "2024-02-31",
            "2023-02-29",
            "2100-02-29",
            "2024-04-31",
            "2024-01-32",
            "2024-01-00",
            // Other ISO 8601 forms of a valid day.
            "20240305",
            "+002024-03-05",
            "2024-03-05 ",
            " 2024-03-05",
            "",
        ] {
            let e = Day::parse(bad).expect_err(bad);
            assert_eq!(e.to_string(), format!("{bad:?} is not a date (YYYY-MM-DD)"));
        }
        for leap in ["2024-02-29", "2000-02-29", "1996-02-29"] {
            assert_eq!(day(leap).to_string(), leap);
        }
        assert_eq!(day("2024-03-05").to_string(), "2024-03-05");
        assert_eq!(day("0001-01-01").to_string(), "0001-01-01");
    }

    #[test]
    fn ranges_select_years_months_days() {
        let r = DayRange {
            since: Some(day("2023-11-30")),
            until: Some(day("2024-02-02")),
        };
        assert!(r.has_year(2023) && r.has_year(2024) && !r.has_year(2022) && !r.has_year(2025));
        assert!(r.has_month(2023, 11) && r.has_month(2024, 2) && !r.has_month(2023, 10));
        assert!(!r.has_month(2024, 3));
        assert!(r.has_day(2023, 11, 30) && !r.has_day(2023, 11, 29));
        assert!(r.has_day(2024, 2, 2) && !r.has_day(2024, 2, 3));
        assert!(r.has_day(2024, 1, 31) && !r.has_day(2024, 1, 32) && !r.has_day(2024, 2, 0));
        assert!(!r.has_month(2024, 13) && !r.has_month(2024, 0));
        let open = DayRange::default();
        assert!(open.has_year(1999) && open.has_day(2999, 12, 31));
        assert!(
            open.has_day(2024, 2, 29) && !open.has_day(2023, 2, 29) && !open.has_day(2024, 2, 31)
        );
        assert!(!open.has_month(2024, 13));
        let since = DayRange {
            since: Some(day("2024-03-05")),
            until: None,
        };
        assert!(since.has_day(2030, 1, 1) && !since.has_day(2024, 3, 4));
    }
}
