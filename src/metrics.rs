//! The function's per-object metrics, in CloudWatch's Embedded Metric Format: one JSON line per
//! object on stdout, which CloudWatch Logs turns into metrics without an API call or a
//! permission. The template's alarms and dashboard read them (namespace [`NAMESPACE`], one
//! dimension `FunctionName`, so two stacks side by side never mix). Pure: the line is built
//! here and written by the binary that wants it (the Lambda, never the CLI, whose stdout is
//! data).
//!
//! A count is published only when it is above zero. CloudWatch bills a custom metric for each
//! hour it receives data (USD 0.30 a metric-month): the counters that are zero almost always
//! (failed, skipped, rejected, filtered, omitted) then cost only in the hours they happen, and
//! the alarms on them treat missing data as zero. The heartbeat alarm counts `ObjectsIngested`
//! and treats missing data as breaching, as before.

use serde_json::{Map, Value, json};

/// The metrics' namespace.
pub const NAMESPACE: &str = "AsgTrail";

/// How an object ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read to the end and every item written.
    Ingested,
    /// Failed (the invocation, or its message or task, reports it).
    Failed,
    /// Not ingested on purpose: not a log file, or gone (`NoSuchKey`).
    Skipped,
}

/// What one object came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectMetrics {
    /// How it ended (`None`: nothing to count yet).
    pub outcome: Option<Outcome>,
    /// EC2 Auto Scaling events kept.
    pub events: u64,
    /// Items written.
    pub items_written: u64,
    /// Records that could not be stored.
    pub rejected: u64,
    /// Events dropped by the filters.
    pub filtered: u64,
    /// Attributes left out of items to fit DynamoDB's limits.
    pub omitted_attributes: u64,
    /// Real-time events refused: from an account the settings do not accept.
    pub refused_events: u64,
    /// Seconds from the newest event of the object to now: how far ingestion runs behind.
    pub ingestion_lag: Option<u64>,
    /// Alerts published (one by one, or as a digest).
    pub alerts_sent: u64,
    /// Alerts whose publish still failed after its retries (the template's alarm watches it).
    pub alerts_failed: u64,
}

impl ObjectMetrics {
    /// The Embedded Metric Format record of these metrics, for the function `function`, at
    /// `timestamp_ms` (milliseconds since the Unix epoch): the counts above zero and the lag;
    /// `None` when there is none of them.
    #[must_use]
    pub fn emf(&self, function: &str, timestamp_ms: u64) -> Option<Value> {
        let one = |o: Outcome| u64::from(self.outcome == Some(o));
        let mut values: Vec<(&str, u64, &str)> = vec![
            ("ObjectsIngested", one(Outcome::Ingested), "Count"),
            ("ObjectsFailed", one(Outcome::Failed), "Count"),
            ("ObjectsSkipped", one(Outcome::Skipped), "Count"),
            ("Events", self.events, "Count"),
            ("ItemsWritten", self.items_written, "Count"),
            ("Rejected", self.rejected, "Count"),
            ("Filtered", self.filtered, "Count"),
            ("OmittedAttributes", self.omitted_attributes, "Count"),
            ("EventsRefused", self.refused_events, "Count"),
            ("AlertsSent", self.alerts_sent, "Count"),
            ("AlertsFailed", self.alerts_failed, "Count"),
        ];
        values.retain(|(_, value, _)| *value > 0);
        if let Some(lag) = self.ingestion_lag {
            values.push(("IngestionLag", lag, "Seconds"));
        }
        if values.is_empty() {
            return None;
        }
        let definitions: Vec<Value> = values
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        let mut record = Map::new();
        record.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": definitions,
                }],
            }),
        );
        record.insert("FunctionName".into(), Value::from(function));
        for (name, value, _) in values {
            record.insert(name.into(), Value::from(value));
        }
        Some(Value::Object(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_alerts_are_counted_for_the_alarm() {
        let v = ObjectMetrics {
            alerts_sent: 1,
            alerts_failed: 2,
            ..ObjectMetrics::default()
        }
        .emf("f", 0)
        .expect("something to publish");
        assert_eq!(v["AlertsFailed"], 2);
        assert_eq!(v["AlertsSent"], 1);
    }

    #[test]
    fn a_record_declares_every_metric_it_carries() {
        let m = ObjectMetrics {
            outcome: Some(Outcome::Ingested),
            events: 7,
            items_written: 9,
            rejected: 1,
            filtered: 2,
            omitted_attributes: 0,
            refused_events: 0,
            ingestion_lag: Some(310),
            ..ObjectMetrics::default()
        };
        let v = m
            .emf("asg-trail-Function-X", 1_709_640_000_000)
            .expect("something to publish");
        let spec = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "AsgTrail");
        assert_eq!(spec["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(v["_aws"]["Timestamp"], 1_709_640_000_000_u64);
        assert_eq!(v["FunctionName"], "asg-trail-Function-X");
        let declared: Vec<&str> = spec["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|d| d["Name"].as_str().expect("name"))
            .collect();
        // The zero counts (failed, skipped, omitted) are left out.
        assert_eq!(
            declared,
            [
                "ObjectsIngested",
                "Events",
                "ItemsWritten",
                "Rejected",
                "Filtered",
                "IngestionLag"
            ]
        );
        for name in &declared {
            assert!(v[*name].is_u64(), "{name} is declared and carried");
        }
        assert_eq!(v["ObjectsIngested"].as_u64(), Some(1));
        assert!(v.get("ObjectsFailed").is_none());
        assert_eq!(v["ItemsWritten"], 9);
        assert_eq!(v["IngestionLag"], 310);
        assert_eq!(
            spec["Metrics"][5],
            json!({"Name": "IngestionLag", "Unit": "Seconds"})
        );
    }

    #[test]
    fn a_refused_event_is_counted_alone() {
        let v = ObjectMetrics {
            refused_events: 1,
            ..ObjectMetrics::default()
        }
        .emf("f", 0)
        .expect("a refusal is published");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "EventsRefused", "Unit": "Count"}])
        );
        assert_eq!(v["EventsRefused"], 1);
    }

    #[test]
    fn no_lag_without_an_event() {
        let v = ObjectMetrics {
            outcome: Some(Outcome::Skipped),
            ..ObjectMetrics::default()
        }
        .emf("f", 0)
        .expect("a skipped object");
        assert!(v.get("IngestionLag").is_none());
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "ObjectsSkipped", "Unit": "Count"}])
        );
        assert_eq!(v["ObjectsSkipped"], 1);
        assert_eq!(ObjectMetrics::default().emf("f", 0), None, "nothing to say");
    }
}
