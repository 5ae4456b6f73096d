//! Writes a synthetic, seeded CloudTrail log file (see `tests/synth`), gzip-compressed like
//! CloudTrail's own deliveries, for benchmarks:
//!
//! ```sh
//! cargo run --release --example gen_cloudtrail -- --size 100M --out /tmp/log-100M.json.gz
//! ```

use std::fs::File;
use std::io::BufWriter;

use anyhow::{Context, Result, bail};
use clap::Parser;
use flate2::Compression;
use flate2::write::GzEncoder;

#[path = "../tests/synth/mod.rs"]
mod synth;

use synth::SynthOptions;

#[derive(Parser)]
struct Args {
    /// Decompressed size: a number of bytes, or with a K, M or G suffix (powers of 1024).
    #[arg(long, default_value = "10M")]
    size: String,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of Auto Scaling records.
    #[arg(long, default_value_t = 0.01)]
    share: f64,
    /// Output file; `.gz` is gzip-compressed (level 6), anything else plain JSON.
    #[arg(long)]
    out: String,
}

fn parse_size(text: &str) -> Result<u64> {
    let (digits, shift) = match text.chars().last() {
        Some('K' | 'k') => (&text[..text.len() - 1], 10),
        Some('M' | 'm') => (&text[..text.len() - 1], 20),
        Some('G' | 'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let n: u64 = digits
        .parse()
        .with_context(|| format!("bad size {text:?}"))?;
    if n == 0 {
        bail!("size must be positive");
    }
    Ok(n << shift)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let options = SynthOptions {
        seed: args.seed,
        target_bytes: parse_size(&args.size)?,
        autoscaling_share: args.share,
    };
    let file = BufWriter::with_capacity(
        1 << 20,
        File::create(&args.out).with_context(|| args.out.clone())?,
    );
    let stats = if args.out.ends_with(".gz") {
        let mut gz = GzEncoder::new(file, Compression::new(6));
        let stats = synth::write_log(&mut gz, &options)?;
        gz.finish()?;
        stats
    } else {
        synth::write_log(file, &options)?
    };
    eprintln!(
        "{}: {} records, {} EC2 Auto Scaling, {} Application Auto Scaling, {} bytes decompressed",
        args.out, stats.records, stats.autoscaling, stats.application_autoscaling, stats.bytes
    );
    Ok(())
}
