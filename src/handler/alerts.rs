//! Alerts on changes by hand, after the items are written, on both paths (a log file's items
//! and an EventBridge event's): the [`Notify`] hook the [`Ingestor`](super::Ingestor) calls,
//! and [`Alerter`], which drives the marker ([`AlertLedger`]) and the publisher
//! ([`Publisher`]). Nothing here fails an ingestion: every failure is logged and counted.
//!
//! Per change: too old ([`alert::MAX_AGE_SECS`]) → nothing; taken (sent, or claimed by a copy
//! whose lease runs) → nothing; claimed by this call, and a slot in this minute's counter →
//! published (retried), then confirmed. Claim first, publish, then confirm: of two copies at
//! the same moment only one claims; a crash after the claim leaves it to lapse after
//! [`alert::CLAIM_LEASE_SECS`], for the next copy (or the retry of the invocation) to take
//! over, so a crash sends a second copy at worst, never none. A publish that still fails
//! releases the claim at once, so the change's other copy (or a redelivery) tries again.
//!
//! Past the storm limit of the minute, a log file's changes become one digest per invocation;
//! a real-time change is left unmarked for its log file to carry (5 to 15 minutes later), so a
//! storm never floods and no change goes unsaid.

use std::fmt::Debug;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::alert::{self, Change, Message, Rules, message};
use crate::config::{AlertSettings, unix_time_ms};
use crate::dynamodb::{AlertLedger, Claim};
use crate::item::Item;
use crate::sns::Publisher;

/// Publish attempts per alert (the SDK's own retries within each).
const PUBLISH_ATTEMPTS: u32 = 3;
/// Lines a digest lists; the rest are counted.
const DIGEST_LINES: usize = 50;

/// Which path the items came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// An EventBridge event: a change past the storm limit waits for its log file.
    RealTime,
    /// A log file: changes past the storm limit go into one digest.
    LogFile,
}

/// What became of the alerts of one batch of items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertStats {
    /// Alerts published one by one.
    pub sent: u64,
    /// Digests published.
    pub digests: u64,
    /// Changes already alerted (their marker exists).
    pub already: u64,
    /// Changes older than the bound.
    pub too_old: u64,
    /// Real-time changes past the storm limit, left to their log file.
    pub deferred: u64,
    /// Publishes that still failed after their retries.
    pub failed: u64,
}

/// The hook the ingestor calls with the items it wrote.
pub trait Notify: Send + Sync + Debug {
    /// Alerts on the changes among `items` that the rules match.
    fn notify(&self, items: Vec<Item>, path: Path) -> BoxFuture<'_, AlertStats>;
    /// The rules, to pick the candidates while reading.
    fn rules(&self) -> &Rules;
}

/// The alerts of one function: its topic, rules, storm limit, table, publisher and ledger.
#[derive(Debug)]
pub struct Alerter<P, L> {
    publisher: P,
    ledger: L,
    table: String,
    topic: String,
    settings: AlertSettings,
    backoff: Duration,
    now: fn() -> u64,
}

fn now_seconds() -> u64 {
    unix_time_ms() / 1000
}

/// A token unique to one claim: the process, the time in nanoseconds, and a counter.
fn claim_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CLAIMS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = CLAIMS.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

impl<P: Publisher + Debug, L: AlertLedger + Debug> Alerter<P, L> {
    /// An alerter on `table`'s markers; `None` when the settings turn alerts off.
    #[must_use]
    pub fn new(publisher: P, ledger: L, table: &str, settings: &AlertSettings) -> Option<Self> {
        let topic = settings.topic_arn.clone().filter(|_| settings.enabled())?;
        Some(Self {
            publisher,
            ledger,
            table: table.into(),
            topic,
            settings: settings.clone(),
            backoff: Duration::from_millis(200),
            now: now_seconds,
        })
    }

    /// The same, with another clock (epoch seconds) and no backoff: for tests.
    #[must_use]
    pub fn with_clock(self, now: fn() -> u64) -> Self {
        Self {
            now,
            backoff: Duration::ZERO,
            ..self
        }
    }

    async fn run(&self, items: Vec<Item>, path: Path) -> AlertStats {
        let mut stats = AlertStats::default();
        let now = (self.now)();
        let mut overflow = Vec::new();
        for change in alert::changes(items, &self.settings.rules) {
            if !alert::is_recent(change.event_time(), now) {
                stats.too_old += 1;
                continue;
            }
            let claim = self.claim_of(&change, now);
            if self.is_taken(&change, now).await || !self.claim(&change, &claim).await {
                stats.already += 1;
            } else if self.take_slot(now).await {
                self.send_one(&change, &claim.token, &mut stats).await;
            } else if path == Path::RealTime {
                tracing::info!(
                    event_id = change.event_id(),
                    "alert deferred to the log file: past this minute's storm limit"
                );
                self.release(&change, &claim.token).await;
                stats.deferred += 1;
            } else {
                overflow.push((change, claim.token));
            }
        }
        if !overflow.is_empty() {
            self.send_digest(&overflow, now, &mut stats).await;
        }
        stats
    }

    fn claim_of(&self, change: &Change, now: u64) -> Claim {
        Claim {
            token: claim_token(),
            now,
            lease_until: now + alert::CLAIM_LEASE_SECS,
            expires_at: alert::marker_expiry(change.event_time(), now),
        }
    }

    async fn is_taken(&self, change: &Change, now: u64) -> bool {
        // A marker that cannot be read counts as absent: a second copy rather than none.
        self.ledger
            .is_taken(&self.table, change.event_id(), now)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "alert marker unreadable: alerting anyway"))
            .unwrap_or(false)
    }

    async fn claim(&self, change: &Change, claim: &Claim) -> bool {
        // A claim that cannot be written counts as made: a second copy rather than none.
        self.ledger
            .claim(&self.table, change.event_id(), claim)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "alert claim failed: alerting anyway"))
            .unwrap_or(true)
    }

    async fn take_slot(&self, now: u64) -> bool {
        let minute = alert::minute_of(now);
        let expires = now + alert::MARKER_MARGIN_SECS;
        self.ledger
            .take_slot(&self.table, &minute, self.settings.storm_limit, expires)
            .await
            .inspect_err(
                |e| tracing::warn!(error = %e, "storm counter unavailable: alerting anyway"),
            )
            .unwrap_or(true)
    }

    async fn send_one(&self, change: &Change, token: &str, stats: &mut AlertStats) {
        if self
            .publish(&message::of_change(change), change.event_id())
            .await
        {
            stats.sent += 1;
            self.confirm(change, token).await;
        } else {
            stats.failed += 1;
            self.release(change, token).await;
        }
    }

    async fn send_digest(&self, changes: &[(Change, String)], now: u64, stats: &mut AlertStats) {
        let lines: Vec<String> = changes
            .iter()
            .take(DIGEST_LINES)
            .map(|(change, _)| message::line(change))
            .collect();
        let more = (changes.len() - lines.len()) as u64;
        let digest = message::digest(&alert::minute_of(now), &lines, more);
        let sent = self.publish(&digest, "digest").await;
        if sent {
            stats.digests += 1;
        } else {
            stats.failed += 1;
        }
        for (change, token) in changes {
            if sent {
                self.confirm(change, token).await;
            } else {
                self.release(change, token).await;
            }
        }
    }

    async fn confirm(&self, change: &Change, token: &str) {
        let confirmed = self
            .ledger
            .confirm(&self.table, change.event_id(), token)
            .await;
        match confirmed {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                event_id = change.event_id(),
                "alert sent after its claim lapsed: another copy may have alerted too"
            ),
            Err(e) => {
                tracing::warn!(error = %e, event_id = change.event_id(), "alert sent but not confirmed: a later copy may alert again once the claim lapses");
            }
        }
    }

    async fn release(&self, change: &Change, token: &str) {
        if let Err(e) = self
            .ledger
            .release(&self.table, change.event_id(), token)
            .await
        {
            tracing::warn!(error = %e, event_id = change.event_id(), "alert claim not released: the next copy may alert once it lapses");
        }
    }

    /// Publishes with retries; whether it went out.
    async fn publish(&self, message: &Message, what: &str) -> bool {
        for attempt in 1..=PUBLISH_ATTEMPTS {
            match self.publisher.publish(&self.topic, message).await {
                Ok(id) => {
                    tracing::info!(alert = what, message_id = %id, subject = %message.subject, "alert published");
                    return true;
                }
                Err(e) if attempt < PUBLISH_ATTEMPTS => {
                    tracing::warn!(alert = what, attempt, error = %e, "alert publish failed: retrying");
                    tokio::time::sleep(self.backoff * attempt).await;
                }
                Err(e) => {
                    tracing::error!(error_type = "AlertFailed", alert = what, aws_error_code = e.code.as_deref(), error = %e, "alert publish failed: counted (AlertsFailed), left unmarked for the next copy");
                }
            }
        }
        false
    }
}

impl<P: Publisher + Debug, L: AlertLedger + Debug> Notify for Alerter<P, L> {
    fn notify(&self, items: Vec<Item>, path: Path) -> BoxFuture<'_, AlertStats> {
        Box::pin(self.run(items, path))
    }

    fn rules(&self) -> &Rules {
        &self.settings.rules
    }
}

#[cfg(test)]
mod tests {
    //! The alerter over in-memory fakes of the ledger and the publisher, with faults.
    use super::*;
    use crate::dynamodb::MarkerError;
    use crate::sns::PublishError;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A marker: its state (`true` sent), its claimer, its lease.
    type Mark = (bool, String, u64);

    #[derive(Debug, Default)]
    struct Ledger {
        marks: Mutex<BTreeMap<String, Mark>>,
        windows: Mutex<BTreeMap<String, u32>>,
    }

    fn is_free(mark: Option<&Mark>, now: u64) -> bool {
        mark.is_none_or(|(sent, _, lease)| !sent && *lease < now)
    }

    impl AlertLedger for Ledger {
        async fn is_taken(&self, _: &str, id: &str, now: u64) -> Result<bool, MarkerError> {
            Ok(!is_free(self.marks.lock().expect("lock").get(id), now))
        }
        async fn claim(&self, _: &str, id: &str, c: &Claim) -> Result<bool, MarkerError> {
            let mut marks = self.marks.lock().expect("lock");
            let free = is_free(marks.get(id), c.now);
            if free {
                marks.insert(id.into(), (false, c.token.clone(), c.lease_until));
            }
            Ok(free)
        }
        async fn confirm(&self, _: &str, id: &str, token: &str) -> Result<bool, MarkerError> {
            let mut marks = self.marks.lock().expect("lock");
            let mark = marks.get_mut(id).filter(|m| !m.0 && m.1 == token);
            Ok(mark.map(|m| m.0 = true).is_some())
        }
        async fn release(&self, _: &str, id: &str, token: &str) -> Result<(), MarkerError> {
            let mut marks = self.marks.lock().expect("lock");
            if let Some(m) = marks.get_mut(id).filter(|m| !m.0 && m.1 == token) {
                m.2 = 0;
            }
            Ok(())
        }
        async fn take_slot(
            &self,
            _: &str,
            m: &str,
            limit: u32,
            _: u64,
        ) -> Result<bool, MarkerError> {
            let mut w = self.windows.lock().expect("lock");
            let n = w.entry(m.into()).or_default();
            Ok(*n < limit && {
                *n += 1;
                true
            })
        }
    }

    /// Records what it publishes; fails the first `fail` calls.
    #[derive(Debug, Default)]
    struct Topic {
        sent: Mutex<Vec<Message>>,
        fail: Mutex<u32>,
    }

    impl Publisher for Topic {
        async fn publish(&self, topic: &str, m: &Message) -> Result<String, PublishError> {
            let mut fail = self.fail.lock().expect("lock");
            if *fail > 0 {
                *fail -= 1;
                return Err(PublishError {
                    topic: topic.into(),
                    message: "InternalError".into(),
                    code: Some("InternalError".into()),
                    source: None,
                });
            }
            self.sent.lock().expect("lock").push(m.clone());
            Ok("m-1".into())
        }
    }

    const NOW: u64 = 1_709_640_000; // 2024-03-05T12:00:00Z

    fn now() -> u64 {
        NOW
    }

    fn change(id: &str, time: &str) -> Item {
        Item {
            group_name: "web-asg".into(),
            event_id: id.into(),
            event_time: time.into(),
            event_name: Some("SetDesiredCapacity".into()),
            account_id: "123456789012".into(),
            user_identity_type: Some("IAMUser".into()),
            user_name: Some("alice".into()),
            ..Item::default()
        }
    }

    fn alerter(limit: u32) -> Alerter<Topic, Ledger> {
        let settings = AlertSettings {
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:t".into()),
            storm_limit: limit,
            ..AlertSettings::default()
        };
        Alerter::new(Topic::default(), Ledger::default(), "t", &settings)
            .expect("on")
            .with_clock(now)
    }

    fn sent(a: &Alerter<Topic, Ledger>) -> usize {
        a.publisher.sent.lock().expect("lock").len()
    }

    #[tokio::test]
    async fn a_change_alerts_once_whichever_path_sees_it_first_and_however_often() {
        let a = alerter(10);
        let one = || vec![change("e1", "2024-03-05T11:59:50Z")];
        assert_eq!(a.run(one(), Path::RealTime).await.sent, 1);
        assert_eq!(a.run(one(), Path::LogFile).await.already, 1);
        assert_eq!(a.run(one(), Path::RealTime).await.already, 1);
        let b = alerter(10);
        assert_eq!(b.run(one(), Path::LogFile).await.sent, 1);
        assert_eq!(b.run(one(), Path::RealTime).await.already, 1);
        assert_eq!((sent(&a), sent(&b)), (1, 1));
    }

    #[tokio::test]
    async fn a_claim_holds_off_another_copy_until_its_lease_lapses() {
        let a = alerter(10);
        let one = || vec![change("e1", "2024-03-05T11:59:50Z")];
        let claimed = |lease| (false, "another copy".to_owned(), lease);
        let marks = || a.ledger.marks.lock().expect("lock");
        marks().insert("e1".into(), claimed(NOW + 30));
        assert_eq!(a.run(one(), Path::LogFile).await.already, 1, "being sent");
        // The claimer died before it confirmed: once its lease lapses, this copy sends.
        marks().insert("e1".into(), claimed(NOW - 1));
        assert_eq!(a.run(one(), Path::LogFile).await.sent, 1);
        assert!(marks()["e1"].0, "confirmed");
        assert_eq!(a.run(one(), Path::RealTime).await.already, 1);
        assert_eq!(sent(&a), 1);
    }

    #[tokio::test]
    async fn history_older_than_the_bound_never_alerts() {
        let a = alerter(10);
        let stats = a
            .run(vec![change("old", "2024-02-05T12:00:00Z")], Path::LogFile)
            .await;
        assert_eq!((stats.too_old, sent(&a)), (1, 0));
    }

    #[tokio::test]
    async fn a_failed_publish_is_retried_counted_and_left_for_the_next_copy() {
        let a = alerter(10);
        *a.publisher.fail.lock().expect("lock") = 2;
        let one = || vec![change("e1", "2024-03-05T11:59:50Z")];
        assert_eq!(a.run(one(), Path::RealTime).await.sent, 1, "retried within");
        let b = alerter(10);
        *b.publisher.fail.lock().expect("lock") = PUBLISH_ATTEMPTS;
        assert_eq!(b.run(one(), Path::RealTime).await.failed, 1);
        assert_eq!(sent(&b), 0);
        assert_eq!(
            b.run(one(), Path::LogFile).await.sent,
            1,
            "the log file's copy"
        );
    }

    #[tokio::test]
    async fn a_storm_becomes_a_digest_in_a_file_and_waits_for_it_in_real_time() {
        let storm: Vec<Item> = (0..200)
            .map(|n| change(&format!("e{n}"), "2024-03-05T11:59:30Z"))
            .collect();
        let a = alerter(10);
        let stats = a.run(storm.clone(), Path::LogFile).await;
        assert_eq!((stats.sent, stats.digests), (10, 1));
        assert_eq!(sent(&a), 11);
        let digest = a.publisher.sent.lock().expect("lock")[10].clone();
        assert!(
            digest.subject.contains("190 more changes"),
            "{}",
            digest.subject
        );
        assert!(digest.text.contains("... and 140 more"));
        // Replayed: nothing more.
        assert_eq!(a.run(storm.clone(), Path::LogFile).await.already, 200);
        let b = alerter(10);
        let mut deferred = 0;
        for item in storm {
            deferred += b.run(vec![item], Path::RealTime).await.deferred;
        }
        assert_eq!((sent(&b), deferred), (10, 190));
    }
}
