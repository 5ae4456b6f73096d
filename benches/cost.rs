//! The monthly bill of a deployment, from a seeded day of CloudTrail records run through the
//! real extraction (`pipeline::log_items`, the Lambda's own path) under each scenario of
//! `benches/cost.json`: items a day, write units a day for the table and each index (by
//! DynamoDB's item-size rules, `asg_trail::size`), write amplification, storage after 12 months
//! (TTL honoured), the busiest partition keys, and dollars a month at the prices in that file.
//!
//! `cargo bench --bench cost` (figures, not a pass/fail test; BENCHMARKS.md has the results).
//! The scenario "defaults" must be the function's environment under the deployed defaults;
//! tests/it/template.rs checks it against template.yaml and samconfig.toml.

#![allow(missing_docs)]
#![allow(
    clippy::cast_precision_loss,
    reason = "dollars and gigabytes from counts far below 2^52"
)]

use std::collections::HashMap;
use std::ops::ControlFlow;

use asg_trail::cloudtrail::Format;
use asg_trail::config::Config;
use asg_trail::item::{self, Item};
use asg_trail::pipeline;
use asg_trail::size;
use serde::Deserialize;
use serde_json::{Value, json};

#[path = "cost/workload.rs"]
mod workload;

/// DynamoDB adds this much to every item (table and index) for storage.
const ITEM_OVERHEAD_BYTES: u64 = 100;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const DAYS_PER_MONTH: f64 = 365.0 / 12.0;
/// The global secondary indexes: name and key attribute (both project ALL, see template.yaml).
const INDEXES: [(&str, &str); 2] = [("byEventName", "eventName"), ("byUser", "userArn")];

#[derive(Deserialize)]
struct Plan {
    prices: Prices,
    lambda: Lambda,
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
struct Prices {
    taken: String,
    region: String,
    dynamodb_write_request_units_per_million: f64,
    dynamodb_storage_gb_month: f64,
    dynamodb_pitr_gb_month: f64,
    lambda_requests_per_million: f64,
    lambda_arm64_gb_second: f64,
    cloudwatch_logs_ingested_gb: f64,
}

#[derive(Deserialize)]
struct Lambda {
    memory_mb: u32,
    ms_per_file: f64,
    files_per_day: u64,
    log_bytes_per_file: u64,
}

#[derive(Deserialize)]
struct Scenario {
    name: String,
    account: String,
    env: HashMap<String, String>,
    /// The template's RealTimeEvents: the day's EventBridge events are ingested too (an API
    /// call a second time, as an overwrite of its log-file items; activities once).
    real_time: bool,
}

/// Writes and storage of one store (the table, or one index).
#[derive(Default)]
struct Store {
    /// The items stored (their keys): an overwrite costs its writes, not more storage.
    keys: std::collections::HashSet<(String, String)>,
    write_units_per_day: u64,
    /// Bytes held after 12 months of such days (each item kept until its TTL, at most a year).
    bytes_after_a_year: f64,
    /// Write units a day per partition key, and the busiest minute of the busiest key.
    per_key: HashMap<String, u64>,
    per_key_minute: HashMap<(String, u32), u64>,
}

impl Store {
    fn add(&mut self, (key, sort): (&str, &str), minute: u32, bytes: u64, kept_days: f64) {
        let units = size::write_units(usize::try_from(bytes).unwrap_or(usize::MAX));
        self.write_units_per_day += units;
        if self.keys.insert((key.to_owned(), sort.to_owned())) {
            self.bytes_after_a_year += (bytes + ITEM_OVERHEAD_BYTES) as f64 * kept_days;
        }
        *self.per_key.entry(key.to_owned()).or_default() += units;
        *self
            .per_key_minute
            .entry((key.to_owned(), minute))
            .or_default() += units;
    }

    fn busiest(&self) -> (String, u64, u64) {
        let (key, units) = self
            .per_key
            .iter()
            .max_by_key(|(k, u)| (**u, (*k).clone()))
            .map_or((String::new(), 0), |(k, u)| (k.clone(), *u));
        let minute = self.per_key_minute.values().copied().max().unwrap_or(0);
        (key, units, minute)
    }
}

/// Days an item stays in the table within a year: until its `expiresAt`, else the whole year.
fn kept_days(item: &Item) -> f64 {
    let born = item::epoch_seconds(&item.event_time).unwrap_or(0);
    item.expires_at.map_or(365.0, |e| {
        (e.saturating_sub(born) as f64 / 86_400.0).min(365.0)
    })
}

fn minute_of(item: &Item) -> u32 {
    let t = item::epoch_seconds(&item.event_time).unwrap_or(0);
    u32::try_from(t % 86_400 / 60).unwrap_or(0)
}

/// What one day writes: the table, each index, and the distinct events stored.
struct Writes {
    table: Store,
    indexes: Vec<Store>,
    events: std::collections::HashSet<String>,
}

impl Writes {
    fn new() -> Self {
        let mut indexes = Vec::new();
        indexes.resize_with(INDEXES.len(), Store::default);
        Self {
            table: Store::default(),
            indexes,
            events: std::collections::HashSet::new(),
        }
    }

    /// One item, as the writer would put it, in the table and the indexes that hold it.
    fn put(&mut self, item: &Item) {
        let Ok(Value::Object(map)) = serde_json::to_value(item) else {
            panic!("an item is an object");
        };
        let bytes = size::item_size(&map) as u64;
        let (days, minute) = (kept_days(item), minute_of(item));
        self.table
            .add((&item.group_name, &item.event_key), minute, bytes, days);
        let sort = format!("{}|{}", item.group_name, item.event_key);
        for ((_, attribute), index) in INDEXES.iter().zip(&mut self.indexes) {
            if let Some(Value::String(key)) = map.get(*attribute) {
                index.add((key, &sort), minute, bytes, days);
            }
        }
        self.events.insert(item.event_key.clone());
    }
}

/// Runs one scenario's day through the pipeline (and, with real-time events, through the
/// events path): the table and each index.
fn run(scenario: &Scenario) -> Writes {
    let config = Config::from_lookup(|k| scenario.env.get(k).cloned())
        .unwrap_or_else(|e| panic!("{}: {e}", scenario.name));
    let account = match scenario.account.as_str() {
        "eks" => workload::Account::Eks,
        "small" => workload::Account::Small,
        other => panic!("unknown account {other}"),
    };
    let day = workload::day(account, 10);
    let mut writes = Writes::new();
    if scenario.real_time {
        // EventBridge delivers within seconds, before the log file: its items come first.
        for event in &day.events {
            let raw = serde_json::value::to_raw_value(event).expect("json");
            let own = Some("111122223333");
            let pipeline::Admission::Admitted(event) =
                pipeline::invocation_event(&raw, &config, own).expect("a valid event")
            else {
                panic!("the workload's events are the account's own");
            };
            event.items().iter().for_each(|item| writes.put(item));
        }
    }
    for (n, file) in day.files.into_iter().enumerate() {
        let log = serde_json::to_vec(&json!({ "Records": file })).expect("json");
        let source =
            format!("s3://trail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/f{n}.json.gz");
        let (_, parsed) =
            pipeline::log_items(&log[..], Format::Delivery, &source, &config, |item| {
                writes.put(&item);
                ControlFlow::Continue(())
            });
        parsed.expect("the generated log parses");
    }
    writes
}

fn dollars(plan: &Plan, table: &Store, indexes: &[Store]) -> (f64, f64, f64) {
    let p = &plan.prices;
    let units: u64 =
        table.write_units_per_day + indexes.iter().map(|i| i.write_units_per_day).sum::<u64>();
    let writes = units as f64 * DAYS_PER_MONTH / 1e6 * p.dynamodb_write_request_units_per_million;
    let stored =
        table.bytes_after_a_year + indexes.iter().map(|i| i.bytes_after_a_year).sum::<f64>();
    let storage = stored / GIB * p.dynamodb_storage_gb_month;
    let pitr = table.bytes_after_a_year / GIB * p.dynamodb_pitr_gb_month;
    (writes, storage, pitr)
}

fn lambda_dollars(plan: &Plan) -> (f64, f64, f64) {
    let (p, l) = (&plan.prices, &plan.lambda);
    let files = l.files_per_day as f64 * DAYS_PER_MONTH;
    let requests = files / 1e6 * p.lambda_requests_per_million;
    let gb_seconds = files * l.ms_per_file / 1000.0 * f64::from(l.memory_mb) / 1024.0;
    let compute = gb_seconds * p.lambda_arm64_gb_second;
    let logs = files * l.log_bytes_per_file as f64 / GIB * p.cloudwatch_logs_ingested_gb;
    (requests, compute, logs)
}

fn report(plan: &Plan, scenario: &Scenario) {
    let Writes {
        table,
        indexes,
        events,
    } = run(scenario);
    let events = events.len() as u64;
    let index_units: u64 = indexes.iter().map(|i| i.write_units_per_day).sum();
    let (writes, storage, pitr) = dollars(plan, &table, &indexes);
    let real_time = if scenario.real_time {
        ", real-time events on"
    } else {
        ""
    };
    println!(
        "## {} ({} account{real_time})",
        scenario.name, scenario.account
    );
    println!("events/day {events:>9}   items/day {:>9}", table.keys.len());
    println!("write units/day: table {:>9}", table.write_units_per_day);
    for ((name, _), index) in INDEXES.iter().zip(&indexes) {
        println!(
            "write units/day: {name:<11} {:>9}   ({} items)",
            index.write_units_per_day,
            index.keys.len()
        );
    }
    let amplification =
        (table.write_units_per_day + index_units) as f64 / table.write_units_per_day.max(1) as f64;
    println!("write amplification {amplification:.2}x the table's own");
    let table_gb = table.bytes_after_a_year / GIB;
    let index_gb: f64 = indexes.iter().map(|i| i.bytes_after_a_year).sum::<f64>() / GIB;
    println!("stored after 12 months: table {table_gb:.3} GB, indexes {index_gb:.3} GB");
    let (key, units, minute) = table.busiest();
    println!("busiest table key: {key} ({units} WU/day, busiest minute of any key {minute} WU)");
    for ((name, _), index) in INDEXES.iter().zip(&indexes) {
        let (key, units, minute) = index.busiest();
        println!(
            "busiest {name} key: {key} ({units} WU/day, busiest minute of any key {minute} WU)"
        );
    }
    let total = writes + storage + pitr;
    println!(
        "DynamoDB $/month after 12 months: {total:.2} (writes {writes:.2}, storage {storage:.2}, PITR {pitr:.2})"
    );
    println!();
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/cost.json");
    let text = std::fs::read_to_string(path).expect("benches/cost.json");
    let plan: Plan = serde_json::from_str(&text).expect("benches/cost.json is a plan");
    let p = &plan.prices;
    println!(
        "# asg-trail monthly cost: {} prices taken {} (writes ${}/M WRU, storage ${}/GB-month, PITR ${}/GB-month)\n",
        p.region,
        p.taken,
        p.dynamodb_write_request_units_per_million,
        p.dynamodb_storage_gb_month,
        p.dynamodb_pitr_gb_month
    );
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    for scenario in &plan.scenarios {
        if only.as_deref().is_none_or(|o| scenario.name.contains(o)) {
            report(&plan, scenario);
        }
    }
    let l = &plan.lambda;
    let (requests, compute, logs) = lambda_dollars(&plan);
    println!(
        "## the function ({} MB arm64, {} files/day at {} ms each, {} bytes of log lines per file)",
        l.memory_mb, l.files_per_day, l.ms_per_file, l.log_bytes_per_file
    );
    println!(
        "Lambda $/month: {:.2} (requests {requests:.2}, compute {compute:.2}); CloudWatch Logs $/month: {logs:.2}",
        requests + compute
    );
}
