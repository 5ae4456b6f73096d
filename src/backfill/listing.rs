//! Listing by CloudTrail's key layout,
//! `[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`: where a prefix sits in
//! it (`start`), which child folders are worth listing (`children`), and the walk that lists
//! them level by level ([`list`]), object by object only in the day folders of the range.

use futures::stream::{self, StreamExt};

use super::days::DayRange;
use super::error::BackfillError;
use crate::notification::{Disposition, ObjectRef, S3Location, SkipReason};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::Day;

    fn day(s: &str) -> Day {
        Day::parse(s).expect("date")
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
}
