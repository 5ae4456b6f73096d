//! Criterion benches of the pure pipeline stages on a 16 MiB seeded synthetic log (1% Auto
//! Scaling records): gunzip alone, the structural scan alone, and gunzip + scan + extract.
//! `cargo bench --bench pipeline`; the whole-process comparison is `benches/bench.py`.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::ops::ControlFlow;

use asg_trail::cloudtrail::{Format, Limits};
use asg_trail::extract::Filters;
use asg_trail::pipeline;
use asg_trail::scan::RecordScanner;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;

#[path = "../tests/synth/mod.rs"]
mod synth;

use synth::SynthOptions;

fn inputs() -> (Vec<u8>, Vec<u8>) {
    let mut plain = Vec::new();
    let options = SynthOptions {
        seed: 1,
        target_bytes: 16 << 20,
        autoscaling_share: 0.01,
    };
    synth::write_log(&mut plain, &options).expect("generates");
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
    gz.write_all(&plain).expect("gzip");
    (plain, gz.finish().expect("gzip"))
}

fn stages(c: &mut Criterion) {
    let (plain, gz) = inputs();
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(plain.len() as u64));
    group.bench_function("gunzip to a sink", |b| {
        b.iter(|| {
            let mut decoder = flate2::read::MultiGzDecoder::new(&gz[..]);
            let mut buf = vec![0; 256 * 1024];
            while decoder.read(&mut buf).expect("decodes") > 0 {}
        });
    });
    group.bench_function("scan records (decoded input)", |b| {
        b.iter(|| {
            let mut scanner = RecordScanner::new(Limits::default().max_record_bytes);
            let mut n = 0u64;
            for chunk in plain.chunks(256 * 1024) {
                let flow = scanner.push(chunk, &mut |_| {
                    n += 1;
                    ControlFlow::Continue(())
                });
                assert_eq!(flow, Ok(ControlFlow::Continue(())));
            }
            scanner.finish().expect("complete")
        });
    });
    group.bench_function("scan + extract (decoded input)", |b| {
        b.iter(|| {
            let (stats, result) = pipeline::extracted_items(
                &plain[..],
                Format::Delivery,
                "bench",
                &Filters::default(),
                &Limits::default(),
                |_| ControlFlow::Continue(()),
            );
            result.expect("valid");
            stats.items
        });
    });
    group.bench_function("gunzip + scan + extract", |b| {
        b.iter(|| {
            let (stats, result) = pipeline::extracted_items(
                &gz[..],
                Format::Delivery,
                "bench",
                &Filters::default(),
                &Limits::default(),
                |_| ControlFlow::Continue(()),
            );
            result.expect("valid");
            stats.items
        });
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
