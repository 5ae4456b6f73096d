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
//! appended and flushed as it completes, so an interrupted run (Ctrl-C, a crash, a lost
//! terminal) resumes where it stopped.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{self, StreamExt};

use crate::dynamodb::BatchWriter;
use crate::error::IngestError;
use crate::handler::{Ingestor, ObjectSummary, OnMissing};
use crate::notification::{ObjectRef, SkipReason, skip_reason};
use crate::s3::ObjectStore;

/// A calendar day (UTC), as in CloudTrail's `YYYY/MM/DD/` folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    /// Year.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
}

impl Day {
    /// Parses `YYYY-MM-DD`.
    ///
    /// # Errors
    /// A message when the text is not such a date.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a date (YYYY-MM-DD)");
        let mut parts = text.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let day = Self {
            year: y.parse().map_err(|_| bad())?,
            month: m.parse().map_err(|_| bad())?,
            day: d.parse().map_err(|_| bad())?,
        };
        if !(1..=12).contains(&day.month) || !(1..=31).contains(&day.day) {
            return Err(bad());
        }
        Ok(day)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
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
    fn first(&self) -> (u16, u8, u8) {
        self.since.map_or((0, 0, 0), |d| (d.year, d.month, d.day))
    }

    fn last(&self) -> (u16, u8, u8) {
        self.until
            .map_or((u16::MAX, u8::MAX, u8::MAX), |d| (d.year, d.month, d.day))
    }

    /// Whether any day of `year` is in range.
    #[must_use]
    pub fn has_year(&self, year: u16) -> bool {
        (self.first().0..=self.last().0).contains(&year)
    }

    /// Whether any day of `year`-`month` is in range.
    #[must_use]
    pub fn has_month(&self, year: u16, month: u8) -> bool {
        let (a, b) = (self.first(), self.last());
        ((a.0, a.1)..=(b.0, b.1)).contains(&(year, month))
    }

    /// Whether the day is in range.
    #[must_use]
    pub fn has_day(&self, year: u16, month: u8, day: u8) -> bool {
        (self.first()..=self.last()).contains(&(year, month, day))
    }
}

/// Splits `s3://BUCKET[/PREFIX]` into the bucket and the prefix.
///
/// # Errors
/// A message when it is not such a URI.
pub fn parse_location(uri: &str) -> Result<(String, String), String> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{uri}: expected s3://BUCKET/PREFIX"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("{uri}: expected s3://BUCKET/PREFIX"));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// A level of CloudTrail's key layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
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
pub struct Folder {
    /// The key prefix, ending with `/`.
    pub prefix: String,
    /// Its level.
    pub level: Level,
}

/// Where a user's prefix sits in the layout. A prefix above `AWSLogs/` (a trail's prefix, or
/// nothing) starts at its `AWSLogs/` folder; one inside it starts at the level it reaches.
///
/// # Errors
/// A message when a segment after `AWSLogs/` does not fit the layout (a year that is not a
/// number, a folder other than `CloudTrail/` under an account, ...).
pub fn start(prefix: &str) -> Result<Folder, String> {
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
        return Err(format!("{prefix}: expected AWSLogs/ where {first:?} is"));
    }
    folder.prefix.push_str("AWSLogs/");
    for segment in segments {
        let next = child_level(folder.level, segment)
            .ok_or_else(|| format!("{prefix}: {segment:?} does not fit CloudTrail's key layout AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/"))?;
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
#[must_use]
pub fn children(folder: &Folder, common_prefixes: &[String], range: &DayRange) -> Vec<Folder> {
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

/// The delivery day of a key in the layout (`.../YYYY/MM/DD/file`), if it has one.
#[must_use]
pub fn day_of_key(key: &str) -> Option<Day> {
    let mut parts = key.rsplit('/').skip(1);
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    Day::parse(&format!("{y}-{m}-{d}")).ok()
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

/// Lists the log files under `s3://bucket/prefix` delivered on days in `range`.
///
/// # Errors
/// The first listing that fails (with the SDK's description), or a prefix that does not fit
/// the layout.
pub async fn list(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    range: &DayRange,
    concurrency: usize,
    mut on_progress: impl FnMut(&Listing),
) -> Result<Listing, String> {
    let mut listing = Listing::default();
    let mut frontier = vec![start(prefix)?];
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
                match skip_reason(&object.key, object.size) {
                    Some(reason) => listing.skipped.push((object, reason)),
                    None => listing.objects.push(object),
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
) -> Result<(Vec<String>, usize), String> {
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
) -> Result<(Vec<ObjectRef>, usize), String> {
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
) -> Result<(Vec<T>, usize), String> {
    let mut request = client.list_objects_v2().bucket(bucket).prefix(prefix);
    if folders {
        request = request.delimiter("/");
    }
    let mut pages = request.into_paginator().send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = page.map_err(|e| {
            format!(
                "cannot list s3://{bucket}/{prefix}: {}",
                crate::aws::describe_error(&e)
            )
        })?;
        out.extend(take(&page));
    }
    Ok((out, calls))
}

/// The objects already ingested by earlier runs, and the file that records new ones.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    done: HashSet<String>,
    file: File,
}

impl Checkpoint {
    /// Opens (or creates) a checkpoint file and reads what it records.
    ///
    /// # Errors
    /// The I/O error, naming the file.
    pub fn open(path: &Path) -> Result<Self, String> {
        let name = path.display();
        let done = match File::open(path) {
            Ok(f) => parse_checkpoint(BufReader::new(f))
                .map_err(|e| format!("cannot read checkpoint {name}: {e}"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(format!("cannot read checkpoint {name}: {e}")),
        };
        let fresh = done.is_empty() && !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot write checkpoint {name}: {e}"))?;
        if fresh {
            file.write_all(
                b"# asg-trail backfill checkpoint: objects ingested in full, one per line\n",
            )
            .map_err(|e| format!("cannot write checkpoint {name}: {e}"))?;
        }
        Ok(Self {
            path: path.to_owned(),
            done,
            file,
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

    /// Records an object as ingested, on disk at once (one `write` of a whole line).
    ///
    /// # Errors
    /// The I/O error, naming the file.
    pub fn record(&mut self, object: &ObjectRef) -> Result<(), String> {
        let line = format!("{object}\n");
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| format!("cannot write checkpoint {}: {e}", self.path.display()))?;
        self.done.insert(object.to_string());
        Ok(())
    }
}

/// The objects a checkpoint file records: non-empty lines not starting with `#`. A last line
/// without its newline (a write cut short) is ignored: that object is ingested again.
///
/// # Errors
/// The I/O error.
pub fn parse_checkpoint(reader: impl BufRead) -> std::io::Result<HashSet<String>> {
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
        assert_eq!(
            day("2024-03-05"),
            Day {
                year: 2024,
                month: 3,
                day: 5
            }
        );
        assert!(day("2024-03-05") < day("2024-03-06") && day("2023-12-31") < day("2024-01-01"));
        for bad in [
            "2024-3-5",
            "2024/03/05",
            "2024-13-01",
            "2024-00-10",
            "x",
            "2024-03-05T00",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(day("2024-03-05").to_string(), "2024-03-05");
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
        let open = DayRange::default();
        assert!(open.has_year(1999) && open.has_day(2999, 12, 31));
        let since = DayRange {
            since: Some(day("2024-03-05")),
            until: None,
        };
        assert!(since.has_day(2030, 1, 1) && !since.has_day(2024, 3, 4));
    }

    #[test]
    fn locations_and_starting_points() {
        assert_eq!(
            parse_location("s3://b/p/q").expect("ok"),
            ("b".into(), "p/q".into())
        );
        assert_eq!(
            parse_location("s3://b").expect("ok"),
            ("b".into(), String::new())
        );
        assert!(parse_location("b/p").is_err() && parse_location("s3:///p").is_err());
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
        assert!(e.contains("CloudTrail-Digest"), "{e}");
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
    fn days_of_keys() {
        assert_eq!(
            day_of_key("AWSLogs/1/CloudTrail/us-east-1/2024/03/05/x.json.gz"),
            Some(day("2024-03-05"))
        );
        assert_eq!(day_of_key("x.json.gz"), None);
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
