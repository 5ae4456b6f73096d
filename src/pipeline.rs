//! From a log file's bytes to the items the table receives: parse and extract under the
//! configured filters and reader limits, then stamp the retention (`expiresAt`). Every path
//! goes through here — the Lambda, `asg-trail ingest`, `backfill` and the offline `extract` —
//! so `extract` prints exactly what the Lambda would write with the same settings. Pure: no
//! tokio, no SDK.

use std::io::Read;
use std::ops::ControlFlow;

use crate::cloudtrail::{Format, ParseError};
use crate::config::Config;
use crate::extract::{self, FileStats};
use crate::item::{self, Item};

/// Reads one log file and hands each item it yields, as it will be stored, to `on_item`, in
/// file order, until the file ends or `on_item` says stop (then nothing more is read).
///
/// The statistics are returned even when the file fails half-way, together with the error:
/// the items handed out before the failure are real and may be kept.
pub fn log_items<R: Read + Send>(
    input: R,
    format: Format,
    source_object: &str,
    config: &Config,
    mut on_item: impl FnMut(Item) -> ControlFlow<()>,
) -> (FileStats, Result<(), ParseError>) {
    let days = config.retention_days;
    extract::extract_log_with(
        input,
        format,
        source_object,
        &config.filters,
        &config.limits,
        |mut item| {
            if days > 0 {
                item.expires_at = item::expires_at(&item.event_time, days);
            }
            let _ = on_item(item);
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> serde_json::Value {
        serde_json::json!({
            "eventSource": "autoscaling.amazonaws.com", "eventName": "SetDesiredCapacity",
            "eventTime": "2024-03-05T12:00:00Z", "eventID": id, "readOnly": false,
            "recipientAccountId": "123456789012",
            "requestParameters": {"autoScalingGroupName": "g", "desiredCapacity": 2}
        })
    }

    fn items(config: &Config) -> Vec<Item> {
        let log = serde_json::json!({"Records": [record("a"), record("b")]}).to_string();
        let mut out = Vec::new();
        let (stats, parsed) =
            log_items(log.as_bytes(), Format::Delivery, "s3://b/k", config, |i| {
                out.push(i);
                ControlFlow::Continue(())
            });
        parsed.expect("a valid log");
        assert_eq!(stats.items, 2);
        out
    }

    #[test]
    fn the_retention_is_stamped_on_every_item() {
        assert!(
            items(&Config::default())
                .iter()
                .all(|i| i.expires_at.is_none())
        );
        let config = Config {
            retention_days: 30,
            ..Config::default()
        };
        // 2024-03-05T12:00:00Z = 1709640000.
        for item in items(&config) {
            assert_eq!(item.expires_at, Some(1_709_640_000 + 30 * 86_400));
        }
    }
}
