//! Backfill: ingesting the log files already in a bucket, through the same [`Ingestor`] as the
//! Lambda, with bounded concurrency.
//!
//! Listing follows CloudTrail's key layout,
//! `[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`: accounts, regions,
//! years, months and days are discovered with delimiter listings, and only the days inside
//! `--since`/`--until` are listed object by object. Digest and Insights folders are never
//! entered. Each level is listed with the same concurrency as the ingestion.
//!
//! A [`Checkpoint`] file records each object ingested in full, one `s3://bucket/key` per line,
//! appended as it completes, so an interrupted run (Ctrl-C, a crash, a lost terminal) resumes
//! where it stopped. See [`Checkpoint::record`] for what survives which crash.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use futures::stream::{self, StreamExt};
use jiff::civil::Date;

use crate::dynamodb::BatchWriter;
use crate::error::IngestError;
use crate::handler::{Ingestor, ObjectSummary, OnMissing};
use crate::notification::{Disposition, ObjectRef, S3Location, SkipReason};
use crate::s3::ObjectStore;

/// Why a backfill cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// A `--since`/`--until` text that is not a date.
    #[error("{text:?} is not a date (YYYY-MM-DD)")]
    BadDate {
        /// The text.
        text: String,
        /// jiff's reason, when the text has the date's layout but names no date.
        #[source]
        source: Option<jiff::Error>,
    },
    /// A prefix whose `AWSLogs` folder is not named `AWSLogs` exactly (`AWSLogsX/`).
    #[error("{prefix}: expected AWSLogs/ where {segment:?} is")]
    NotAwsLogs {
        /// The prefix asked for.
        prefix: String,
        /// What stands where `AWSLogs` should.
        segment: String,
    },
    /// A prefix that leaves CloudTrail's key layout.
    #[error(
        "{prefix}: {segment:?} does not fit CloudTrail's key layout AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/"
    )]
    OffLayout {
        /// The prefix asked for.
        prefix: String,
        /// Its first segment that does not fit.
        segment: String,
    },
    /// A ListObjectsV2 call failed.
    #[error("cannot list s3://{bucket}/{prefix}: {detail}")]
    List {
        /// Bucket.
        bucket: String,
        /// The prefix listed.
        prefix: String,
        /// The service's error code, message and request ID (or the chain of causes).
        detail: String,
        /// The SDK's error.
        #[source]
        source: Box<SdkError<ListObjectsV2Error, HttpResponse>>,
    },
    /// The checkpoint file cannot be read.
    #[error("cannot read checkpoint {}: {source}", path.display())]
    CheckpointRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint file cannot be written.
    #[error("cannot write checkpoint {}: {source}", path.display())]
    CheckpointWrite {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

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

/// A level of CloudTrail's key layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// `.../AWSLogs/`: organization folders (`o-...`) or accounts.
    AwsLogs,
    /// `.../AWSLogs/o-ORG/`: accounts.
    Organization,
    /// `.../ACCOUNT/`: holds `CloudTrail/` (and the digest and Insights folders, not entered).
    Account,
    /// `.../CloudTrail/`: regions.
    CloudTrail,
    /// `.../REGION/`: years.
    Region,
    /// `.../YYYY/`: months.
    Year(u16),
    /// `.../YYYY/MM/`: days.
    Month(u16, u8),
    /// `.../YYYY/MM/DD/`: the log files.
    Day,
}

/// A folder of the layout to list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Folder {
    /// The key prefix, ending with `/`.
    prefix: String,
    /// Its level.
    level: Level,
}

/// Where a user's prefix sits in the layout. A prefix above `AWSLogs/` (a trail's prefix, or
/// nothing) starts at its `AWSLogs/` folder; one inside it starts at the level it reaches.
///
/// # Errors
/// [`BackfillError::OffLayout`] when a segment after `AWSLogs/` does not fit the layout (a year
/// that is not a number, a folder other than `CloudTrail/` under an account, ...), or
/// [`BackfillError::NotAwsLogs`] for a folder merely starting with `AWSLogs`.
fn start(prefix: &str) -> Result<Folder, BackfillError> {
    let Some(at) = prefix
        .match_indices("AWSLogs")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || prefix[..i].ends_with('/'))
    else {
        let base = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        return Ok(Folder {
            prefix: format!("{base}AWSLogs/"),
            level: Level::AwsLogs,
        });
    };
    let mut folder = Folder {
        prefix: prefix[..at].to_owned(),
        level: Level::AwsLogs,
    };
    let tail = &prefix[at..];
    let mut segments: Vec<&str> = tail.split('/').filter(|s| !s.is_empty()).collect();
    let first = segments.remove(0);
    if first != "AWSLogs" {
        return Err(BackfillError::NotAwsLogs {
            prefix: prefix.to_owned(),
            segment: first.to_owned(),
        });
    }
    let off_layout = |segment: &str| BackfillError::OffLayout {
        prefix: prefix.to_owned(),
        segment: segment.to_owned(),
    };
    folder.prefix.push_str("AWSLogs/");
    for segment in segments {
        let next = child_level(folder.level, segment).ok_or_else(|| off_layout(segment))?;
        folder.prefix.push_str(segment);
        folder.prefix.push('/');
        folder.level = next;
    }
    Ok(folder)
}

/// The level of child folder `name` of a folder at `level`, if it belongs to the layout.
fn child_level(level: Level, name: &str) -> Option<Level> {
    let number = |len: usize| {
        (name.len() == len && name.bytes().all(|b| b.is_ascii_digit()))
            .then(|| name.parse::<u16>().ok())
            .flatten()
    };
    let account = name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit());
    match level {
        Level::AwsLogs if name.starts_with("o-") => Some(Level::Organization),
        Level::AwsLogs | Level::Organization if account => Some(Level::Account),
        Level::Account if name == "CloudTrail" => Some(Level::CloudTrail),
        Level::CloudTrail if !name.is_empty() => Some(Level::Region),
        Level::Region => number(4).map(Level::Year),
        Level::Year(y) => number(2)
            .and_then(|m| u8::try_from(m).ok())
            .map(|m| Level::Month(y, m)),
        Level::Month(..) => number(2).map(|_| Level::Day),
        _ => None,
    }
}

/// The child folders worth listing, from the common prefixes of a delimiter listing of
/// `folder`, keeping only days in `range`.
fn children(folder: &Folder, common_prefixes: &[String], range: &DayRange) -> Vec<Folder> {
    common_prefixes
        .iter()
        .filter_map(|p| {
            let name = p.strip_prefix(&folder.prefix)?.strip_suffix('/')?;
            let level = child_level(folder.level, name)?;
            let wanted = match (folder.level, level) {
                (_, Level::Year(y)) => range.has_year(y),
                (_, Level::Month(y, m)) => range.has_month(y, m),
                (Level::Month(y, m), Level::Day) => {
                    name.parse::<u8>().is_ok_and(|d| range.has_day(y, m, d))
                }
                _ => true,
            };
            wanted.then(|| Folder {
                prefix: p.clone(),
                level,
            })
        })
        .collect()
}

/// What listing found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Log files to ingest, sorted by key.
    pub objects: Vec<ObjectRef>,
    /// Objects under the day folders that are not log files, by reason.
    pub skipped: Vec<(ObjectRef, SkipReason)>,
    /// Day folders listed.
    pub days: usize,
    /// List calls made.
    pub calls: usize,
}

/// Lists the log files under `location` (a bucket, and a prefix in it) delivered on days in
/// `range`.
///
/// # Errors
/// [`BackfillError::List`] for the first listing that fails, or [`BackfillError::OffLayout`]
/// for a prefix that does not fit the layout.
pub async fn list(
    client: &aws_sdk_s3::Client,
    location: &S3Location,
    range: &DayRange,
    concurrency: usize,
    mut on_progress: impl FnMut(&Listing),
) -> Result<Listing, BackfillError> {
    let bucket = location.bucket.as_str();
    let mut listing = Listing::default();
    let mut frontier = vec![start(&location.path)?];
    while !frontier.is_empty() {
        let (days, folders): (Vec<Folder>, Vec<Folder>) =
            frontier.into_iter().partition(|f| f.level == Level::Day);
        let mut next = Vec::new();
        let mut expanded = stream::iter(folders)
            .map(|folder| async move {
                let prefixes = list_prefixes(client, bucket, &folder.prefix).await;
                (folder, prefixes)
            })
            .buffer_unordered(concurrency.max(1));
        while let Some((folder, prefixes)) = expanded.next().await {
            let (prefixes, calls) = prefixes?;
            listing.calls += calls;
            next.extend(children(&folder, &prefixes, range));
        }
        let mut listed = stream::iter(days)
            .map(|folder| async move { list_objects(client, bucket, &folder.prefix).await })
            .buffer_unordered(concurrency.max(1));
        while let Some(objects) = listed.next().await {
            let (objects, calls) = objects?;
            listing.calls += calls;
            listing.days += 1;
            for object in objects {
                match Disposition::new(object, true) {
                    Disposition::Skip(object, reason) => listing.skipped.push((object, reason)),
                    Disposition::Ingest(object) => listing.objects.push(object),
                }
            }
            on_progress(&listing);
        }
        frontier = next;
    }
    listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(listing)
}

/// Lists one level of "folders" under `prefix` (delimiter `/`), every page; with the number of
/// ListObjectsV2 calls made.
async fn list_prefixes(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<(Vec<String>, usize), BackfillError> {
    list_pages(client, bucket, prefix, true, |page| {
        page.common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(str::to_owned))
            .collect()
    })
    .await
}

/// Lists every object under `prefix`, every page; with the number of calls made.
async fn list_objects(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<(Vec<ObjectRef>, usize), BackfillError> {
    list_pages(client, bucket, prefix, false, |page| {
        page.contents()
            .iter()
            .filter_map(|o| {
                Some(ObjectRef {
                    bucket: bucket.to_owned(),
                    key: o.key()?.to_owned(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()),
                })
            })
            .collect()
    })
    .await
}

/// Runs a ListObjectsV2 listing through all its pages, collecting what `take` finds in each.
async fn list_pages<T>(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    folders: bool,
    take: impl Fn(&aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output) -> Vec<T>,
) -> Result<(Vec<T>, usize), BackfillError> {
    let mut request = client.list_objects_v2().bucket(bucket).prefix(prefix);
    if folders {
        request = request.delimiter("/");
    }
    let mut pages = request.into_paginator().send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = page.map_err(|source| BackfillError::List {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            detail: crate::aws::describe_error(&source),
            source: Box::new(source),
        })?;
        out.extend(take(&page));
    }
    Ok((out, calls))
}

/// How often [`Checkpoint::record`] makes the file durable (`fdatasync`). Syncing every line
/// measured 4.2 ms a line on the 2-core development machine (8.4 s for 2,000 objects): a
/// quarter of the 16.7 ms an object took in the README's local-stack backfill (240 files in
/// 4.0 s), spent while no ingestion in flight is polled.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The objects already ingested by earlier runs, and the file that records new ones.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    done: HashSet<String>,
    file: File,
    /// When the file was last synced to the disk.
    synced: Instant,
}

impl Checkpoint {
    /// Opens (or creates) a checkpoint file and reads what it records.
    ///
    /// # Errors
    /// [`BackfillError::CheckpointRead`] or [`BackfillError::CheckpointWrite`], naming the file.
    pub fn open(path: &Path) -> Result<Self, BackfillError> {
        let read_error = |source| BackfillError::CheckpointRead {
            path: path.to_owned(),
            source,
        };
        let done = match File::open(path) {
            Ok(f) => parse_checkpoint(BufReader::new(f)).map_err(read_error)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(read_error(e)),
        };
        let fresh = done.is_empty() && !path.exists();
        let write_error = |source| BackfillError::CheckpointWrite {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(write_error)?;
        if fresh {
            file.write_all(
                b"# asg-trail backfill checkpoint: objects ingested in full, one per line\n",
            )
            .and_then(|()| file.sync_data())
            .map_err(write_error)?;
        }
        Ok(Self {
            path: path.to_owned(),
            done,
            file,
            synced: Instant::now(),
        })
    }

    /// Whether an earlier run ingested this object in full.
    #[must_use]
    pub fn is_done(&self, object: &ObjectRef) -> bool {
        self.done.contains(&object.to_string())
    }

    /// Objects recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether nothing is recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records an object as ingested, with one `write` of a whole line (no buffer of ours), and
    /// syncs the file to the disk (`fdatasync`) when the last sync is `SYNC_INTERVAL` (1 s) old,
    /// and when the checkpoint is dropped. What that guarantees:
    /// - once this returns, the line is the kernel's: it survives the process ending in any way
    ///   (Ctrl-C, a panic, `kill -9`, a lost terminal);
    /// - a crash of the machine itself (power, kernel) may lose the lines of the last second;
    ///   a rerun then ingests those objects again, which only overwrites the same items;
    /// - a line cut short by such a crash is ignored when the file is read back.
    ///
    /// # Errors
    /// [`BackfillError::CheckpointWrite`], naming the file.
    pub fn record(&mut self, object: &ObjectRef) -> Result<(), BackfillError> {
        let line = format!("{object}\n");
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| {
                if self.synced.elapsed() >= SYNC_INTERVAL {
                    self.file.sync_data()?;
                    self.synced = Instant::now();
                }
                Ok(())
            })
            .map_err(|source| BackfillError::CheckpointWrite {
                path: self.path.clone(),
                source,
            })?;
        self.done.insert(object.to_string());
        Ok(())
    }
}

impl Drop for Checkpoint {
    /// Syncs the lines written since the last sync. A failure here has no one to be told to:
    /// the lines are already the kernel's, and only a crash of the machine could lose them.
    fn drop(&mut self) {
        let _ = self.file.sync_data();
    }
}

/// The objects a checkpoint file records: non-empty lines not starting with `#`. A last line
/// without its newline (a write cut short) is ignored: that object is ingested again.
///
/// # Errors
/// The I/O error.
fn parse_checkpoint(reader: impl BufRead) -> std::io::Result<HashSet<String>> {
    let mut done = HashSet::new();
    let mut reader = reader;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(done);
        }
        let Some(entry) = line.strip_suffix('\n') else {
            return Ok(done);
        };
        let entry = entry.trim_end_matches('\r');
        if !entry.is_empty() && !entry.starts_with('#') {
            done.insert(entry.to_owned());
        }
    }
}

/// Ingests `objects` with at most `concurrency` at a time, calling `on_done` as each finishes.
/// Once `stop` is set no new object is started; those under way finish. Returns whether it
/// stopped early.
pub async fn ingest<S: ObjectStore, W: BatchWriter>(
    ingestor: &Ingestor<S, W>,
    objects: &[ObjectRef],
    concurrency: usize,
    stop: &AtomicBool,
    mut on_done: impl FnMut(&ObjectRef, Result<ObjectSummary, IngestError>),
) -> bool {
    let mut results = stream::iter(objects)
        .take_while(|_| std::future::ready(!stop.load(Ordering::SeqCst)))
        .map(|object| async move { (object, ingestor.ingest(object, None, OnMissing::Fail).await) })
        .buffer_unordered(concurrency.max(1));
    let mut finished = 0;
    while let Some((object, result)) = results.next().await {
        finished += 1;
        on_done(object, result);
    }
    finished < objects.len()
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

    #[test]
    fn starting_points() {
        let f = |p: &str| start(p).expect(p);
        assert_eq!(
            f(""),
            Folder {
                prefix: "AWSLogs/".into(),
                level: Level::AwsLogs
            }
        );
        assert_eq!(f("my logs").prefix, "my logs/AWSLogs/");
        assert_eq!(f("my logs/").prefix, "my logs/AWSLogs/");
        assert_eq!(f("x/AWSLogs").level, Level::AwsLogs);
        assert_eq!(f("AWSLogs/o-abc123/").level, Level::Organization);
        assert_eq!(f("AWSLogs/123456789012").level, Level::Account);
        assert_eq!(
            f("AWSLogs/123456789012/CloudTrail/").level,
            Level::CloudTrail
        );
        assert_eq!(
            f("p/AWSLogs/o-a/123456789012/CloudTrail/eu-west-1/2024/03"),
            Folder {
                prefix: "p/AWSLogs/o-a/123456789012/CloudTrail/eu-west-1/2024/03/".into(),
                level: Level::Month(2024, 3)
            }
        );
        assert_eq!(
            f("AWSLogs/123456789012/CloudTrail/r/2024/03/05/").level,
            Level::Day
        );
        let e = start("AWSLogs/123456789012/CloudTrail-Digest/").expect_err("digest");
        assert!(e.to_string().contains("CloudTrail-Digest"), "{e}");
        let e = start("p/AWSLogsX/1/").expect_err("not AWSLogs");
        assert_eq!(
            e.to_string(),
            "p/AWSLogsX/1/: expected AWSLogs/ where \"AWSLogsX\" is"
        );
        assert!(start("AWSLogs/123456789012/CloudTrail/r/24/").is_err());
    }

    #[test]
    fn children_follow_the_layout_and_the_range() {
        let range = DayRange {
            since: Some(day("2024-03-05")),
            until: Some(day("2024-03-06")),
        };
        let names = |folder: &Folder, kids: &[&str]| {
            let prefixes: Vec<String> = kids
                .iter()
                .map(|k| format!("{}{k}/", folder.prefix))
                .collect();
            children(folder, &prefixes, &range)
                .into_iter()
                .map(|c| (c.prefix[folder.prefix.len()..].to_owned(), c.level))
                .collect::<Vec<_>>()
        };
        let root = start("").expect("root");
        assert_eq!(
            names(&root, &["o-abc", "123456789012", "README", "12345"]),
            [
                ("o-abc/".to_owned(), Level::Organization),
                ("123456789012/".to_owned(), Level::Account)
            ]
        );
        let account = start("AWSLogs/123456789012/").expect("account");
        assert_eq!(
            names(
                &account,
                &["CloudTrail", "CloudTrail-Digest", "CloudTrail-Insight"]
            ),
            [("CloudTrail/".to_owned(), Level::CloudTrail)]
        );
        let region = start("AWSLogs/123456789012/CloudTrail/us-east-1/").expect("region");
        assert_eq!(
            names(&region, &["2023", "2024", "2025", "xx"]),
            [("2024/".to_owned(), Level::Year(2024))]
        );
        let year = start("AWSLogs/123456789012/CloudTrail/us-east-1/2024/").expect("year");
        assert_eq!(
            names(&year, &["02", "03", "04"]),
            [("03/".to_owned(), Level::Month(2024, 3))]
        );
        let month = start("AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/").expect("month");
        assert_eq!(
            names(&month, &["04", "05", "06", "07"]),
            [
                ("05/".to_owned(), Level::Day),
                ("06/".to_owned(), Level::Day)
            ]
        );
    }

    #[test]
    fn checkpoints_ignore_comments_and_a_torn_last_line() {
        let text = "# header\ns3://b/one.json.gz\n\ns3://b/two.json.gz\r\ns3://b/thr";
        let done = parse_checkpoint(text.as_bytes()).expect("parse");
        let mut got: Vec<_> = done.into_iter().collect();
        got.sort();
        assert_eq!(got, ["s3://b/one.json.gz", "s3://b/two.json.gz"]);
    }

    #[test]
    fn checkpoint_files_round_trip() {
        let dir = std::env::temp_dir().join(format!("asg-trail-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("c.txt");
        let _ = std::fs::remove_file(&path);
        let object = ObjectRef {
            bucket: "b".into(),
            key: "k one.json.gz".into(),
            size: Some(3),
        };
        let mut c = Checkpoint::open(&path).expect("open");
        assert!(c.is_empty() && !c.is_done(&object));
        c.record(&object).expect("record");
        drop(c);
        let c = Checkpoint::open(&path).expect("reopen");
        assert_eq!(c.len(), 1);
        assert!(c.is_done(&object));
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "# asg-trail backfill checkpoint: objects ingested in full, one per line\ns3://b/k one.json.gz\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
