//! Listing by CloudTrail's key layout,
//! `[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`, as the one rule of
//! [`crate::notification::logfile`] defines it: where a prefix sits in it (`start`), which
//! child folders are worth listing (`children`: [`Level::child`], and the range), and the walk
//! that lists them level by level through an [`ObjectLister`] ([`list`]), object by object only
//! in the day folders of the range, each object judged by the same rule as the Lambda's.

use futures::stream::{self, StreamExt};

use super::days::DayRange;
use super::error::BackfillError;
use crate::handler::log_skip;
use crate::notification::logfile::AWS_LOGS;
use crate::notification::{Disposition, Level, ObjectRef, S3Location, SkipReason};
use crate::s3::ObjectLister;

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
        .match_indices(AWS_LOGS)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || prefix[..i].ends_with('/'))
    else {
        let base = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        return Ok(Folder {
            prefix: format!("{base}{AWS_LOGS}/"),
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
    if first != AWS_LOGS {
        return Err(BackfillError::NotAwsLogs {
            prefix: prefix.to_owned(),
            segment: first.to_owned(),
        });
    }
    folder.prefix.push_str(AWS_LOGS);
    folder.prefix.push('/');
    for segment in segments {
        folder.level = folder
            .level
            .child(segment)
            .map_err(|reason| BackfillError::OffLayout {
                prefix: prefix.to_owned(),
                segment: segment.to_owned(),
                reason,
            })?;
        folder.prefix.push_str(segment);
        folder.prefix.push('/');
    }
    Ok(folder)
}

/// What a delimiter listing of a folder leads to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Children {
    /// Child folders of the layout within the range, to list next.
    folders: Vec<Folder>,
    /// Child folders off the layout (a digest, Config or another service's folder...), which
    /// hold no log file and are not entered, with the reason.
    skipped: Vec<(String, SkipReason)>,
}

/// What the common prefixes of a delimiter listing of `folder` lead to: the child folders of
/// the layout worth listing (days in `range` only), and those off it.
fn children(folder: &Folder, common_prefixes: &[String], range: &DayRange) -> Children {
    let mut out = Children::default();
    for p in common_prefixes {
        let Some(name) = p
            .strip_prefix(&folder.prefix)
            .and_then(|n| n.strip_suffix('/'))
        else {
            continue;
        };
        match folder.level.child(name) {
            Ok(level) if in_range(level, range) => out.folders.push(Folder {
                prefix: p.clone(),
                level,
            }),
            Ok(_) => {}
            Err(reason) => out.skipped.push((p.clone(), reason)),
        }
    }
    out
}

/// Whether any day below a folder at `level` is in `range`.
fn in_range(level: Level, range: &DayRange) -> bool {
    match level {
        Level::Year(y) => range.has_year(y),
        Level::Month(y, m) => range.has_month(y, m),
        Level::Day(y, m, d) => range.has_day(y, m, d),
        _ => true,
    }
}

/// The line of a folder the walk leaves, beside the objects' `object skipped` lines.
fn log_folder_left(bucket: &str, prefix: &str, reason: SkipReason) {
    tracing::info!(
        bucket,
        prefix,
        skipped = %reason,
        reason = reason.describe(),
        "folder not entered: no CloudTrail log file below it"
    );
}

/// What listing found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Log files to ingest, sorted by key.
    pub objects: Vec<ObjectRef>,
    /// Objects under the day folders that are not log files, by reason.
    pub skipped: Vec<(ObjectRef, SkipReason)>,
    /// Folders met on the way that are off the layout and hold no log file (digest, Insights,
    /// AWS Config, other services' folders...), not entered, by reason: each a key prefix
    /// ending in `/`.
    pub skipped_folders: Vec<(String, SkipReason)>,
    /// Day folders listed.
    pub days: usize,
    /// List calls made.
    pub calls: usize,
}

impl Listing {
    /// Counts and logs the folders off the layout among `children`; the folders to list next.
    fn leave(&mut self, bucket: &str, children: Children) -> Vec<Folder> {
        for (prefix, reason) in children.skipped {
            log_folder_left(bucket, &prefix, reason);
            self.skipped_folders.push((prefix, reason));
        }
        children.folders
    }

    /// Sorts a day folder's objects by the one rule: log files to ingest, the others skipped
    /// (counted and logged as the Lambda logs them).
    fn judge(&mut self, objects: Vec<ObjectRef>) {
        for object in objects {
            match Disposition::new(object, true) {
                Disposition::Skip(object, reason) => {
                    log_skip(&object, reason);
                    self.skipped.push((object, reason));
                }
                Disposition::Ingest(object) => self.objects.push(object),
            }
        }
    }
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
        let (days, folders): (Vec<Folder>, Vec<Folder>) = frontier
            .into_iter()
            .partition(|f| matches!(f.level, Level::Day(..)));
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
            let children = children(&folder, &prefixes.entries, range);
            next.extend(listing.leave(bucket, children));
        }
        let mut listed = stream::iter(days)
            .map(|folder| async move { lister.list_contents(bucket, &folder.prefix).await })
            .buffer_unordered(concurrency.max(1));
        while let Some(objects) = listed.next().await {
            let objects = objects?;
            listing.calls += objects.calls;
            listing.days += 1;
            listing.judge(objects.entries);
            on_progress(&listing);
        }
        frontier = next;
    }
    listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
    listing.skipped_folders.sort();
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
            f("AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/").level,
            Level::Day(2024, 3, 5)
        );
        let e = start("AWSLogs/123456789012/CloudTrail-Digest/").expect_err("digest");
        assert!(e.to_string().contains("CloudTrail-Digest"), "{e}");
        let e = start("AWSLogs/123456789012/Config/").expect_err("AWS Config");
        assert_eq!(
            e.to_string(),
            "AWSLogs/123456789012/Config/: \"Config\" does not fit CloudTrail's key layout \
             AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/: an AWS Config file \
             (configuration history, snapshot or writability check)"
        );
        let e = start("p/AWSLogsX/1/").expect_err("not AWSLogs");
        assert_eq!(
            e.to_string(),
            "p/AWSLogsX/1/: expected AWSLogs/ where \"AWSLogsX\" is"
        );
        assert!(start("AWSLogs/123456789012/CloudTrail/us-east-1/24/").is_err());
        assert!(start("AWSLogs/123456789012/CloudTrail/r/").is_err());
    }

    #[test]
    fn children_follow_the_layout_and_the_range() {
        let range = DayRange {
            since: Some(day("2024-03-05")),
            until: Some(day("2024-03-06")),
        };
        // The child folders named `kids` of `folder`: those to list, and those off the layout,
        // each by its name.
        let of = |folder: &Folder, kids: &[&str]| {
            let prefixes: Vec<String> = kids
                .iter()
                .map(|k| format!("{}{k}/", folder.prefix))
                .collect();
            let found = children(folder, &prefixes, &range);
            let name = |p: &str| p[folder.prefix.len()..].to_owned();
            (
                found
                    .folders
                    .iter()
                    .map(|c| (name(&c.prefix), c.level))
                    .collect::<Vec<_>>(),
                found
                    .skipped
                    .iter()
                    .map(|(p, reason)| (name(p), *reason))
                    .collect::<Vec<_>>(),
            )
        };
        let names = |folder: &Folder, kids: &[&str]| of(folder, kids).0;
        let skipped = |folder: &Folder, kids: &[&str]| of(folder, kids).1;
        let root = start("").expect("root");
        assert_eq!(
            names(&root, &["o-abc", "123456789012", "README", "12345"]),
            [
                ("o-abc/".to_owned(), Level::Organization),
                ("123456789012/".to_owned(), Level::Account)
            ]
        );
        assert_eq!(
            skipped(&root, &["o-abc", "README"]),
            [("README/".to_owned(), SkipReason::NotAccount)]
        );
        let account = start("AWSLogs/123456789012/").expect("account");
        let kids = [
            "CloudTrail",
            "CloudTrail-Digest",
            "CloudTrail-Insight",
            "Config",
            "vpcflowlogs",
        ];
        assert_eq!(
            names(&account, &kids),
            [("CloudTrail/".to_owned(), Level::CloudTrail)]
        );
        assert_eq!(
            skipped(&account, &kids),
            [
                ("CloudTrail-Digest/".to_owned(), SkipReason::Digest),
                ("CloudTrail-Insight/".to_owned(), SkipReason::Insight),
                ("Config/".to_owned(), SkipReason::Config),
                ("vpcflowlogs/".to_owned(), SkipReason::OtherService),
            ]
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
                ("05/".to_owned(), Level::Day(2024, 3, 5)),
                ("06/".to_owned(), Level::Day(2024, 3, 6))
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
    /// folder, AWS Config's folder, a folder marker, an empty object and a stray file.
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
                "AWSLogs/111122223333/Config/us-east-1/2024/3/5/ConfigHistory/\
                 111122223333_Config_us-east-1_ConfigHistory_AWS::EC2::Instance_20240305T000000Z_20240305T060000Z_1.json.gz",
                10,
            ),
            ("AWSLogs/111122223333/Config/ConfigWritabilityCheckFile", 10),
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
        assert_eq!(
            listing.skipped_folders,
            [
                (
                    "AWSLogs/111122223333/CloudTrail-Digest/".to_owned(),
                    SkipReason::Digest
                ),
                (
                    "AWSLogs/111122223333/Config/".to_owned(),
                    SkipReason::Config
                )
            ],
            "folders off the layout, counted and never entered"
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
            asked.iter().all(|(_, p)| !p.contains("Digest")
                && !p.contains("Config")
                && !p.contains("/2023/")),
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
