//! Listing by CloudTrail's key layout,
//! `[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`: where a prefix sits in
//! it (`start`), which child folders are worth listing (`children`), and the walk that lists
//! them level by level through an [`ObjectLister`] ([`list`]), object by object only in the day
//! folders of the range.

use futures::stream::{self, StreamExt};

use super::days::DayRange;
use super::error::BackfillError;
use crate::notification::{Disposition, ObjectRef, S3Location, SkipReason};
use crate::s3::ObjectLister;

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
pub async fn list<L: ObjectLister>(
    lister: &L,
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
                let prefixes = lister.list_folders(bucket, &folder.prefix).await;
                (folder, prefixes)
            })
            .buffer_unordered(concurrency.max(1));
        while let Some((folder, prefixes)) = expanded.next().await {
            let prefixes = prefixes?;
            listing.calls += prefixes.calls;
            next.extend(children(&folder, &prefixes.entries, range));
        }
        let mut listed = stream::iter(days)
            .map(|folder| async move { lister.list_contents(bucket, &folder.prefix).await })
            .buffer_unordered(concurrency.max(1));
        while let Some(objects) = listed.next().await {
            let objects = objects?;
            listing.calls += objects.calls;
            listing.days += 1;
            for object in objects.entries {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::Day;
    use crate::s3::{ListError, Listed};

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

    /// A bucket in memory: its keys (with a size), and the listings asked of it.
    struct Bucket {
        keys: Vec<(&'static str, u64)>,
        /// `(objects?, prefix)` of every listing, in order.
        asked: std::sync::Mutex<Vec<(bool, String)>>,
        /// A prefix whose listing fails.
        fails: Option<&'static str>,
    }

    impl Bucket {
        fn new(keys: &[(&'static str, u64)]) -> Self {
            Self {
                keys: keys.to_vec(),
                asked: std::sync::Mutex::new(Vec::new()),
                fails: None,
            }
        }

        fn ask(&self, objects: bool, bucket: &str, prefix: &str) -> Option<ListError> {
            assert_eq!(bucket, "trail");
            self.asked
                .lock()
                .expect("lock")
                .push((objects, prefix.to_owned()));
            (self.fails == Some(prefix)).then(|| ListError {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                message: "AccessDenied: Access Denied".into(),
                code: Some("AccessDenied".into()),
                request_id: None,
                source: None,
            })
        }

        fn objects_listed(&self) -> Vec<String> {
            let asked = self.asked.lock().expect("lock");
            asked
                .iter()
                .filter(|(objects, _)| *objects)
                .map(|(_, p)| p.clone())
                .collect()
        }
    }

    impl ObjectLister for Bucket {
        async fn list_folders(
            &self,
            bucket: &str,
            prefix: &str,
        ) -> Result<Listed<String>, ListError> {
            if let Some(e) = self.ask(false, bucket, prefix) {
                return Err(e);
            }
            let folders: std::collections::BTreeSet<String> = self
                .keys
                .iter()
                .filter_map(|(k, _)| {
                    let rest = k.strip_prefix(prefix)?;
                    let end = rest.find('/')?;
                    Some(format!("{prefix}{}", &rest[..=end]))
                })
                .collect();
            Ok(Listed {
                entries: folders.into_iter().collect(),
                calls: 1,
            })
        }

        async fn list_contents(
            &self,
            bucket: &str,
            prefix: &str,
        ) -> Result<Listed<ObjectRef>, ListError> {
            if let Some(e) = self.ask(true, bucket, prefix) {
                return Err(e);
            }
            Ok(Listed {
                entries: self
                    .keys
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, size)| ObjectRef {
                        bucket: bucket.to_owned(),
                        key: (*k).to_owned(),
                        size: Some(*size),
                    })
                    .collect(),
                calls: 1,
            })
        }
    }

    const EAST: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/";

    /// Four days of one region, a day of two others (one in an organization's trail), a digest
    /// folder, a folder marker, an empty object and a stray file.
    fn bucket() -> Bucket {
        Bucket::new(&[
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2023/12/31/a.json.gz",
                10,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/04/b.json.gz",
                10,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/d.json.gz",
                10,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/c.json.gz",
                10,
            ),
            ("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/", 0),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/empty.json.gz",
                0,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/06/e.json.gz",
                10,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/03/05/f.json.gz",
                10,
            ),
            (
                "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/g.json.gz",
                10,
            ),
            (
                "AWSLogs/o-abc123/444455556666/CloudTrail/us-west-2/2024/03/05/h.json.gz",
                10,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/notes.txt",
                10,
            ),
            (
                "elsewhere/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/i.json.gz",
                10,
            ),
        ])
    }

    fn location(path: &str) -> S3Location {
        S3Location {
            bucket: "trail".into(),
            path: path.into(),
        }
    }

    fn names(objects: &[ObjectRef]) -> Vec<&str> {
        objects
            .iter()
            .map(|o| o.key.rsplit('/').next().unwrap_or_default())
            .collect()
    }

    #[tokio::test]
    async fn the_walk_lists_only_the_days_in_range_and_never_a_digest_folder() {
        let bucket = bucket();
        let one_day = DayRange {
            since: Some(day("2024-03-05")),
            until: Some(day("2024-03-05")),
        };
        let mut progress = Vec::new();
        let listing = list(&bucket, &location(""), &one_day, 2, |l| {
            progress.push(l.days);
        })
        .await
        .expect("listed");
        assert_eq!(
            names(&listing.objects),
            ["f.json.gz", "c.json.gz", "d.json.gz", "h.json.gz"]
        );
        let mut skipped: Vec<_> = listing
            .skipped
            .iter()
            .map(|(o, reason)| (o.key.rsplit('/').next().unwrap_or_default(), *reason))
            .collect();
        skipped.sort_by_key(|(name, _)| *name);
        assert_eq!(
            skipped,
            [
                ("", SkipReason::Folder),
                ("empty.json.gz", SkipReason::Empty),
                ("notes.txt", SkipReason::NotLogFile)
            ]
        );
        assert_eq!(listing.days, 3);
        assert_eq!(progress, [1, 2, 3], "progress after each day folder");
        let mut days = bucket.objects_listed();
        days.sort();
        assert_eq!(
            days,
            [
                "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/03/05/",
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/",
                "AWSLogs/o-abc123/444455556666/CloudTrail/us-west-2/2024/03/05/"
            ]
        );
        let asked = bucket.asked.lock().expect("lock").clone();
        assert_eq!(listing.calls, asked.len());
        assert!(
            asked
                .iter()
                .all(|(_, p)| !p.contains("Digest") && !p.contains("/2023/")),
            "{asked:?}"
        );
    }

    #[tokio::test]
    async fn a_prefix_inside_the_layout_starts_there_and_open_ranges_take_every_day() {
        let bucket = bucket();
        let since = DayRange {
            since: Some(day("2024-03-05")),
            until: None,
        };
        let listing = list(&bucket, &location(EAST), &since, 1, |_| {})
            .await
            .expect("listed");
        assert_eq!(
            names(&listing.objects),
            ["c.json.gz", "d.json.gz", "e.json.gz"]
        );
        assert!(
            bucket
                .asked
                .lock()
                .expect("lock")
                .iter()
                .all(|(_, p)| p.starts_with(EAST)),
            "nothing above the prefix is listed"
        );
        let bucket = self::bucket();
        let everything = list(&bucket, &location(""), &DayRange::default(), 4, |_| {})
            .await
            .expect("listed");
        assert_eq!(everything.days, 6);
        assert_eq!(everything.objects.len(), 7);
        let trail = list(
            &bucket,
            &location("elsewhere"),
            &DayRange::default(),
            4,
            |_| {},
        )
        .await
        .expect("listed");
        assert_eq!(names(&trail.objects), ["i.json.gz"]);
    }

    #[tokio::test]
    async fn a_failed_listing_stops_the_walk_and_keeps_its_error() {
        let bucket = Bucket {
            fails: Some("AWSLogs/111122223333/CloudTrail/"),
            ..bucket()
        };
        let err = list(&bucket, &location(""), &DayRange::default(), 2, |_| {})
            .await
            .expect_err("fails");
        assert_eq!(
            err.to_string(),
            "cannot list s3://trail/AWSLogs/111122223333/CloudTrail/: AccessDenied: Access Denied"
        );
        assert!(
            matches!(&err, BackfillError::List(e) if e.code.as_deref() == Some("AccessDenied"))
        );
        assert!(bucket.objects_listed().is_empty());
    }
}
