//! The one rule for what a CloudTrail log file is, written once for every path that meets S3
//! keys (each trigger, `asg-trail ingest`, backfill's listing): a key is a log file iff it is
//!
//! ```text
//! [PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE.json.gz
//! ```
//!
//! with `ACCOUNT` 12 digits, `REGION` a region's name (`us-east-1`, `us-gov-west-1`,
//! `cn-north-1`), `YYYY/MM/DD` a real day in digits, and `FILE` ending in `.json.gz` (or `.json`:
//! an uncompressed copy, which the reader takes as well). The file's own name
//! (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_RANDOM`) is not required. `PREFIX` is anything up
//! to the last `AWSLogs/` folder: a trail's prefix, or Control Tower's `o-ORG/`.
//!
//! [`LogFile::parse`] reads a key into its parts or names the [`SkipReason`]; the layout itself
//! is [`Level::child`], one step down a folder, which backfill's listing walks with too, so
//! that the walk and the key test cannot disagree.
//!
//! Pure: no I/O.

use std::fmt;

use jiff::civil::Date;

/// The folder below which CloudTrail (and other services) deliver.
pub const AWS_LOGS: &str = "AWSLogs";

/// The folder, below an account, of CloudTrail's log files.
pub const CLOUDTRAIL: &str = "CloudTrail";

/// Why an object is not ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The notification is not an `ObjectCreated:*` event (a deletion, a restore...).
    NotObjectCreated,
    /// A folder placeholder (key ends with `/`).
    Folder,
    /// The object holds no bytes.
    Empty,
    /// No `AWSLogs/` folder in the key: S3 server access logs, uploads, anything else.
    NotAwsLogs,
    /// The folder after `AWSLogs/` (or `AWSLogs/o-ORG/`) is not a 12-digit account ID.
    NotAccount,
    /// A CloudTrail digest file (`CloudTrail-Digest/`), used for log file validation.
    Digest,
    /// A CloudTrail Insights file (`CloudTrail-Insight/`): not API calls.
    Insight,
    /// An AWS Config file (`Config/`: configuration history, snapshot, writability check).
    Config,
    /// Another service's folder below the account (`elasticloadbalancing/`, `vpcflowlogs/`...).
    OtherService,
    /// The folder after `CloudTrail/` is not a region's name.
    NotRegion,
    /// The folders after the region are not a real day as `YYYY/MM/DD`.
    NotDate,
    /// The file is not directly in a day folder (too few or too many folders).
    OffLayout,
    /// The file's name does not end in `.json.gz` or `.json`.
    NotLogFile,
}

impl SkipReason {
    /// A short, stable name for logs, metrics and summaries.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotObjectCreated => "not_object_created",
            Self::Folder => "folder",
            Self::Empty => "empty_object",
            Self::NotAwsLogs => "not_under_awslogs",
            Self::NotAccount => "not_an_account",
            Self::Digest => "digest_file",
            Self::Insight => "insight_file",
            Self::Config => "config_file",
            Self::OtherService => "other_service",
            Self::NotRegion => "not_a_region",
            Self::NotDate => "not_a_date",
            Self::OffLayout => "off_layout",
            Self::NotLogFile => "not_a_log_file",
        }
    }

    /// The reason in words, the same on every path that logs or reports a skip.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotObjectCreated => "the notification is not of the object's creation",
            Self::Folder => "a folder placeholder",
            Self::Empty => "an empty object",
            Self::NotAwsLogs => "not below an AWSLogs/ folder, so not CloudTrail's",
            Self::NotAccount => {
                "the folder after AWSLogs/ (or AWSLogs/o-ORG/) is not a 12-digit account ID"
            }
            Self::Digest => "a CloudTrail digest file (log file validation), not a log file",
            Self::Insight => "a CloudTrail Insights file, not API calls",
            Self::Config => {
                "an AWS Config file (configuration history, snapshot or writability check)"
            }
            Self::OtherService => {
                "another service's logs: the folder below the account is not CloudTrail/"
            }
            Self::NotRegion => "the folder after CloudTrail/ is not a region's name",
            Self::NotDate => "the folders after the region are not a day as YYYY/MM/DD",
            Self::OffLayout => {
                "not where CloudTrail writes its log files (CloudTrail/REGION/YYYY/MM/DD/FILE)"
            }
            Self::NotLogFile => "the file's name does not end in .json.gz (or .json)",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level of the layout, `AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`: where a
/// folder sits, and so what its children may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `.../AWSLogs/`: organization folders (`o-...`) or accounts.
    AwsLogs,
    /// `.../AWSLogs/o-ORG/`: accounts.
    Organization,
    /// `.../ACCOUNT/`: `CloudTrail/`, and the digest, Insights, Config... folders.
    Account,
    /// `.../CloudTrail/`: regions.
    CloudTrail,
    /// `.../REGION/`: years.
    Region,
    /// `.../YYYY/`: months.
    Year(u16),
    /// `.../YYYY/MM/`: days.
    Month(u16, u8),
    /// `.../YYYY/MM/DD/`: the log files (a real day).
    Day(u16, u8, u8),
}

impl Level {
    /// The level of the child folder `name` of a folder at this level, or why no log file can
    /// be below it.
    ///
    /// # Errors
    /// The [`SkipReason`] of everything below such a folder: [`SkipReason::Digest`] for
    /// `CloudTrail-Digest` under an account, [`SkipReason::NotRegion`] for a region that is
    /// no region, [`SkipReason::OffLayout`] for any folder below a day...
    pub fn child(self, name: &str) -> Result<Self, SkipReason> {
        match self {
            Self::AwsLogs if is_organization(name) => Ok(Self::Organization),
            Self::AwsLogs | Self::Organization if is_account(name) => Ok(Self::Account),
            Self::AwsLogs | Self::Organization => Err(SkipReason::NotAccount),
            Self::Account => service(name),
            Self::CloudTrail if is_region(name) => Ok(Self::Region),
            Self::CloudTrail => Err(SkipReason::NotRegion),
            Self::Region => digits(name, 4).map(Self::Year),
            Self::Year(y) => month(name).map(|m| Self::Month(y, m)),
            Self::Month(y, m) => day(y, m, name).map(|d| Self::Day(y, m, d)),
            Self::Day(..) => Err(SkipReason::OffLayout),
        }
    }
}

/// The folder below an account: CloudTrail's, or the reason of another one.
fn service(name: &str) -> Result<Level, SkipReason> {
    match name {
        CLOUDTRAIL => Ok(Level::CloudTrail),
        "CloudTrail-Digest" => Err(SkipReason::Digest),
        "CloudTrail-Insight" => Err(SkipReason::Insight),
        "Config" => Err(SkipReason::Config),
        _ => Err(SkipReason::OtherService),
    }
}

/// `o-` and lowercase letters or digits: an organization's ID.
fn is_organization(name: &str) -> bool {
    name.strip_prefix("o-").is_some_and(|id| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// 12 digits: an account ID.
fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

/// A region's name: two letters, one or more words, a number (`us-east-1`, `us-gov-west-1`,
/// `cn-north-1`, `us-isob-east-1`), all lowercase.
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let letters = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    match parts.as_slice() {
        [area, words @ .., number] if !words.is_empty() => {
            area.len() == 2
                && letters(area)
                && words.iter().all(letters)
                && (1..=2).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// A number written with exactly `len` digits.
fn digits(name: &str, len: usize) -> Result<u16, SkipReason> {
    if name.len() == len && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().map_err(|_| SkipReason::NotDate)
    } else {
        Err(SkipReason::NotDate)
    }
}

/// `01` to `12`.
fn month(name: &str) -> Result<u8, SkipReason> {
    digits(name, 2)
        .ok()
        .and_then(|m| u8::try_from(m).ok())
        .filter(|m| (1..=12).contains(m))
        .ok_or(SkipReason::NotDate)
}

/// A day of `year`-`month` that exists, in two digits.
fn day(year: u16, month: u8, name: &str) -> Result<u8, SkipReason> {
    let day = digits(name, 2)
        .ok()
        .and_then(|d| u8::try_from(d).ok())
        .ok_or(SkipReason::NotDate)?;
    date(year, month, day).map(|_| day)
}

/// The date, if it exists.
fn date(year: u16, month: u8, day: u8) -> Result<Date, SkipReason> {
    let year = i16::try_from(year).map_err(|_| SkipReason::NotDate)?;
    let (month, day) = (
        i8::try_from(month).map_err(|_| SkipReason::NotDate)?,
        i8::try_from(day).map_err(|_| SkipReason::NotDate)?,
    );
    Date::new(year, month, day).map_err(|_| SkipReason::NotDate)
}

/// A CloudTrail log file's key, read into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFile<'a> {
    /// Everything before `AWSLogs/` (empty, or ending in `/`): the trail's prefix, or Control
    /// Tower's `o-ORG/`.
    pub prefix: &'a str,
    /// The organization's ID (`o-...`) of an organization trail.
    pub organization: Option<&'a str>,
    /// The account whose events the file holds (12 digits).
    pub account: &'a str,
    /// The region whose events the file holds.
    pub region: &'a str,
    /// The delivery day (UTC).
    pub date: Date,
    /// The file's name (`ACCOUNT_CloudTrail_REGION_..._RANDOM.json.gz` as CloudTrail writes it).
    pub file: &'a str,
}

impl<'a> LogFile<'a> {
    /// Reads a (decoded) key as a CloudTrail log file.
    ///
    /// # Errors
    /// The [`SkipReason`] of the first part of the key that does not fit, from the left: a
    /// folder, a key with no `AWSLogs/` folder, then each folder below it in turn, then the
    /// file's name.
    pub fn parse(key: &'a str) -> Result<Self, SkipReason> {
        if key.ends_with('/') {
            return Err(SkipReason::Folder);
        }
        let (folders, file) = key.rsplit_once('/').ok_or(SkipReason::NotAwsLogs)?;
        let at = last_aws_logs(folders).ok_or(SkipReason::NotAwsLogs)?;
        let below = folders[at + AWS_LOGS.len()..]
            .strip_prefix('/')
            .unwrap_or_default();
        let mut parts = Parts::default();
        let mut level = Level::AwsLogs;
        let names = (!below.is_empty()).then(|| below.split('/'));
        for name in names.into_iter().flatten() {
            level = level.child(name)?;
            parts.note(level, name);
        }
        let Level::Day(y, m, d) = level else {
            return Err(SkipReason::OffLayout);
        };
        if !is_log_file_name(file) {
            return Err(SkipReason::NotLogFile);
        }
        Ok(Self {
            prefix: &key[..at],
            organization: parts.organization,
            account: parts.account,
            region: parts.region,
            date: date(y, m, d)?,
            file,
        })
    }
}

/// The names met on the way down.
#[derive(Default)]
struct Parts<'a> {
    organization: Option<&'a str>,
    account: &'a str,
    region: &'a str,
}

impl<'a> Parts<'a> {
    fn note(&mut self, level: Level, name: &'a str) {
        match level {
            Level::Organization => self.organization = Some(name),
            Level::Account => self.account = name,
            Level::Region => self.region = name,
            _ => {}
        }
    }
}

/// Where the last folder named exactly `AWSLogs` starts in `folders`.
fn last_aws_logs(folders: &str) -> Option<usize> {
    folders
        .match_indices(AWS_LOGS)
        .map(|(i, _)| i)
        .filter(|&i| {
            let end = i + AWS_LOGS.len();
            (i == 0 || folders[..i].ends_with('/'))
                && (end == folders.len() || folders[end..].starts_with('/'))
        })
        .last()
}

/// A name ending in `.json.gz` or `.json`, with something before it.
fn is_log_file_name(file: &str) -> bool {
    [".json.gz", ".json"]
        .iter()
        .any(|suffix| file.len() > suffix.len() && file.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "111122223333_CloudTrail_eu-west-1_20240305T1200Z_Ab12Cd34Ef56Gh78.json.gz";

    #[test]
    fn log_files_of_every_layout_read_into_their_parts() {
        let plain = format!("AWSLogs/111122223333/CloudTrail/eu-west-1/2024/03/05/{FILE}");
        let got = LogFile::parse(&plain).expect("plain");
        assert_eq!(
            got,
            LogFile {
                prefix: "",
                organization: None,
                account: "111122223333",
                region: "eu-west-1",
                date: jiff::civil::date(2024, 3, 5),
                file: FILE,
            }
        );
        let org = format!("AWSLogs/o-abc123/111111111111/CloudTrail/eu-west-1/2024/03/05/{FILE}");
        let got = LogFile::parse(&org).expect("organization");
        assert_eq!(
            (got.prefix, got.organization, got.account),
            ("", Some("o-abc123"), "111111111111")
        );
        // Control Tower: the organization's folder, then the organization trail's layout.
        let tower = format!(
            "o-abc123def4/AWSLogs/o-abc123def4/111111111111/CloudTrail/us-gov-west-1/2024/02/29/{FILE}"
        );
        let got = LogFile::parse(&tower).expect("Control Tower");
        assert_eq!(
            (got.prefix, got.organization, got.region, got.date),
            (
                "o-abc123def4/",
                Some("o-abc123def4"),
                "us-gov-west-1",
                jiff::civil::date(2024, 2, 29)
            )
        );
        // A trail's prefix of its own (spaces, an AWSLogs folder of its own), and an
        // uncompressed copy.
        let nested = "my logs/AWSLogs/AWSLogs/111111111111/CloudTrail/cn-north-1/2024/12/31/x.json";
        let got = LogFile::parse(nested).expect("nested");
        assert_eq!(
            (got.prefix, got.region, got.file),
            ("my logs/AWSLogs/", "cn-north-1", "x.json")
        );
    }

    #[test]
    fn everything_else_is_skipped_with_its_reason() {
        use SkipReason::*;
        let cases = [
            // AWS Config, in the same bucket as an organization trail.
            (
                "AWSLogs/111111111111/Config/us-east-1/2024/3/5/ConfigHistory/111111111111_Config_us-east-1_ConfigHistory_AWS::EC2::Instance_20240305T120000Z_20240305T180000Z_1.json.gz",
                Config,
            ),
            (
                "AWSLogs/o-abc123/111111111111/Config/eu-west-1/2024/3/5/ConfigSnapshot/111111111111_Config_eu-west-1_ConfigSnapshot_20240305T120000Z_0b1c2d3e-1111-2222-3333-444455556666.json.gz",
                Config,
            ),
            (
                "AWSLogs/111111111111/Config/ConfigWritabilityCheckFile",
                Config,
            ),
            // CloudTrail's other files.
            (
                "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2024/03/05/111111111111_CloudTrail-Digest_us-east-1_trail_us-east-1_20240305T130000Z.json.gz",
                Digest,
            ),
            (
                "AWSLogs/111111111111/CloudTrail-Insight/us-east-1/2024/03/05/111111111111_CloudTrail-Insight_us-east-1_20240305T1200Z_x.json.gz",
                Insight,
            ),
            (
                "AWSLogs/111111111111/CloudTrail-Digests-old/us-east-1/2024/03/05/x.json.gz",
                OtherService,
            ),
            (
                "AWSLogs/111111111111/elasticloadbalancing/us-east-1/2024/03/05/x.log.gz",
                OtherService,
            ),
            // S3 server access logs, stray uploads.
            (
                "access-logs/2024-03-05-12-00-00-A1B2C3D4E5F6A7B8",
                NotAwsLogs,
            ),
            (
                "logs/111111111111/us-east-1/trail/2024/03/05/2024-03-05-12-00-00-A1B2C3D4E5F6A7B8",
                NotAwsLogs,
            ),
            ("x.json.gz", NotAwsLogs),
            (
                "uploads/AWSLogsOld/111111111111/CloudTrail/us-east-1/2024/03/05/x.json.gz",
                NotAwsLogs,
            ),
            ("AWSLogs/x.json.gz", OffLayout),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/x.json.gz",
                OffLayout,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/old/x.json.gz",
                OffLayout,
            ),
            // Each folder of the layout, wrong.
            (
                "AWSLogs/123/CloudTrail/us-east-1/2024/3/5/x.json.gz",
                NotAccount,
            ),
            (
                "AWSLogs/o-ABC/111111111111/CloudTrail/us-east-1/2024/03/05/x.json.gz",
                NotAccount,
            ),
            (
                "AWSLogs//CloudTrail/us-east-1/2024/03/05/x.json.gz",
                NotAccount,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/US-EAST-1/2024/03/05/x.json.gz",
                NotRegion,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/global/2024/03/05/x.json.gz",
                NotRegion,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east/2024/03/05/x.json.gz",
                NotRegion,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/3/5/x.json.gz",
                NotDate,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/24/03/05/x.json.gz",
                NotDate,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/13/05/x.json.gz",
                NotDate,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2023/02/29/x.json.gz",
                NotDate,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/04/31/x.json.gz",
                NotDate,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/5a/x.json.gz",
                NotDate,
            ),
            // The file's name.
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/x.json.gz.tmp",
                NotLogFile,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/notes.txt",
                NotLogFile,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/.json.gz",
                NotLogFile,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/",
                Folder,
            ),
            ("AWSLogs/", Folder),
        ];
        for (key, want) in cases {
            assert_eq!(LogFile::parse(key), Err(want), "{key}");
        }
    }

    #[test]
    fn regions_are_told_from_other_names() {
        for region in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-7",
            "us-gov-west-1",
            "cn-northwest-1",
            "us-isob-east-1",
            "il-central-1",
        ] {
            assert!(is_region(region), "{region}");
        }
        for other in [
            "",
            "us",
            "us-1",
            "us-east",
            "useast-1",
            "us-east-one",
            "us-East-1",
            "us-east-123",
            "us--1",
            "u-east-1",
            "us-east-1-",
        ] {
            assert!(!is_region(other), "{other:?}");
        }
    }

    #[test]
    fn the_layout_one_folder_at_a_time() {
        let down = |names: &[&str]| {
            names
                .iter()
                .try_fold(Level::AwsLogs, |level, name| level.child(name))
        };
        assert_eq!(down(&["o-abc123"]), Ok(Level::Organization));
        assert_eq!(down(&["o-abc123", "111111111111"]), Ok(Level::Account));
        assert_eq!(down(&["111111111111", "CloudTrail"]), Ok(Level::CloudTrail));
        assert_eq!(
            down(&[
                "111111111111",
                "CloudTrail",
                "us-east-1",
                "2024",
                "02",
                "29"
            ]),
            Ok(Level::Day(2024, 2, 29))
        );
        assert_eq!(
            down(&["111111111111", "CloudTrail", "us-east-1", "2024"]),
            Ok(Level::Year(2024))
        );
        assert_eq!(down(&["o-abc123", "o-def"]), Err(SkipReason::NotAccount));
        assert_eq!(down(&["111111111111", "Config"]), Err(SkipReason::Config));
        assert_eq!(
            down(&["111111111111", "CloudTrail", "us-east-1", "2024", "00"]),
            Err(SkipReason::NotDate)
        );
    }

    #[test]
    fn reasons_have_stable_names_and_words() {
        assert_eq!(SkipReason::Config.to_string(), "config_file");
        assert_eq!(SkipReason::Digest.as_str(), "digest_file");
        assert!(SkipReason::Config.describe().contains("AWS Config"));
    }
}
