//! gunzip → parse → extract on arbitrary bytes, as the Lambda reads a log file: it must never
//! panic, overflow its stack or run away with memory, every item it yields must be storable
//! (keys within DynamoDB's limits, maps nested at most 32 levels with no empty key), and the
//! same bytes must give the same items whether they arrive plain or gzipped.
#![no_main]

use std::io::Write;
use std::ops::ControlFlow;

use asg_trail::cloudtrail::{Format, Limits};
use asg_trail::extract::{FileStats, Filters};
use asg_trail::item::{self, Item};
use asg_trail::pipeline::extracted_items;
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_decompressed_bytes: 64 * 1024 * 1024,
    max_record_bytes: 4 * 1024 * 1024,
};

fn run(data: &[u8], format: Format) -> (FileStats, Vec<String>, bool) {
    let filters = Filters {
        include_service_actions: true,
        ..Filters::default()
    };
    let mut items = Vec::new();
    let (stats, result) =
        extracted_items(data, format, "s3://fuzz/key", &filters, &LIMITS, |item| {
            check(&item);
            items.push(serde_json::to_string(&item).expect("an item serializes"));
            ControlFlow::Continue(())
        });
    assert!(stats.events <= stats.records, "{stats:?}");
    assert!(stats.items >= stats.events, "{stats:?}");
    assert_eq!(stats.items, items.len() as u64);
    assert!(
        stats.events + stats.application_autoscaling + stats.filtered + stats.rejected
            <= stats.records,
        "{stats:?}"
    );
    (stats, items, result.is_ok())
}

fn check(item: &Item) {
    assert!(!item.group_name.is_empty() && !item.event_key.is_empty());
    assert_eq!(item::key_problem(&item.group_name, &item.event_key), None);
    for value in [&item.request_parameters, &item.response_elements]
        .into_iter()
        .flatten()
    {
        assert_eq!(item::storage_problem(value, 1), None, "{value}");
    }
}

fuzz_target!(|data: &[u8]| {
    for format in [Format::Delivery, Format::Any] {
        let (stats, items, ok) = run(data, format);
        // The same bytes through gunzip (unless they are gzip already): the same outcome.
        if !data.starts_with(&[0x1f, 0x8b]) && !data.is_empty() {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).expect("gzip to memory");
            let gz = enc.finish().expect("gzip to memory");
            let (gz_stats, gz_items, gz_ok) = run(&gz, format);
            assert_eq!(ok, gz_ok);
            assert_eq!(items, gz_items);
            assert_eq!(
                FileStats { bytes: 0, ..stats },
                FileStats {
                    bytes: 0,
                    ..gz_stats
                }
            );
        }
    }
});
