//! Progress of a backfill: a bar (objects, events, MB/s, ETA) when stderr is a terminal, plain
//! lines at an interval otherwise; and the CLI's logging, which writes around the bar.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lambda_runtime::tracing::subscriber::{self, EnvFilter};

/// The bar on screen, if any: log lines are written while it is hidden.
static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// stderr, suspending the progress bar (if one is drawn) for each write.
struct AroundTheBar;

impl Write for AroundTheBar {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match BAR.get() {
            Some(bar) => bar
                .suspend(|| io::stderr().write_all(buf))
                .map(|()| buf.len()),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Logs to stderr, at `RUST_LOG`'s level; by default `info`, or `warn` for a backfill (one line
/// per object would bury the progress; failures are warnings or errors, so they still show).
pub fn init_logging(backfill: bool) {
    let default = if backfill { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_env_filter(filter)
        .with_writer(|| AroundTheBar)
        .init();
}

/// Counts shown by the progress display.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Objects finished (ingested or failed).
    pub objects: u64,
    /// Objects that failed.
    pub failed: u64,
    /// EC2 Auto Scaling events kept.
    pub events: u64,
    /// Bytes of the finished objects (listed sizes).
    pub bytes: u64,
}

/// The progress display.
pub enum Progress {
    /// A bar on a terminal.
    Bar {
        /// The bar (its length is the bytes to do).
        bar: ProgressBar,
        /// Objects to do.
        total_objects: u64,
    },
    /// Lines to a log or a pipe.
    Lines {
        /// Objects to do.
        total_objects: u64,
        /// Bytes to do.
        total_bytes: u64,
        /// Time between lines.
        every: Duration,
        /// When the run started.
        started: Instant,
        /// When the last line was printed.
        last: Option<Instant>,
    },
}

impl Progress {
    /// A bar if stderr is a terminal, lines every `every` otherwise.
    pub fn new(total_objects: u64, total_bytes: u64, every: Duration) -> Self {
        if !io::stderr().is_terminal() {
            return Self::Lines {
                total_objects,
                total_bytes,
                every,
                started: Instant::now(),
                last: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {binary_bytes}/{binary_total_bytes} \
             {binary_bytes_per_sec} ETA {eta} | {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar.set_message(format!("0/{total_objects} objects, 0 events"));
        let _ = BAR.set(bar.clone());
        Self::Bar { bar, total_objects }
    }

    /// Shows the counts after an object finished.
    pub fn update(&mut self, c: Counts) {
        match self {
            Self::Bar { bar, total_objects } => {
                bar.set_position(c.bytes);
                bar.set_message(message(c, *total_objects));
            }
            Self::Lines {
                total_objects,
                total_bytes,
                every,
                started,
                last,
            } => {
                let due = last.is_none_or(|t| t.elapsed() >= *every);
                if due || c.objects == *total_objects {
                    *last = Some(Instant::now());
                    eprintln!(
                        "{}",
                        line(c, *total_objects, *total_bytes, started.elapsed())
                    );
                }
            }
        }
    }

    /// Removes the bar (the summary follows).
    pub fn finish(&self) {
        if let Self::Bar { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}

fn message(c: Counts, total_objects: u64) -> String {
    let mut m = format!("{}/{total_objects} objects, {} events", c.objects, c.events);
    if c.failed > 0 {
        m.push_str(&format!(", {} FAILED", c.failed));
    }
    m
}

/// `progress: 12/345 objects (3%), 678 events, 1.2 of 40.0 MB, 2.1 MB/s, ETA 13m05s, 0 failed`.
#[allow(
    clippy::cast_precision_loss,
    reason = "figures for people: exact below 2^52 bytes"
)]
pub fn line(c: Counts, total_objects: u64, total_bytes: u64, elapsed: Duration) -> String {
    let mb = |b: u64| b as f64 / 1_000_000.0;
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = mb(c.bytes) / secs;
    let eta = if c.bytes > 0 && total_bytes > c.bytes {
        let rest = (total_bytes - c.bytes) as f64 / (c.bytes as f64 / secs);
        format!("{}", HumanDuration(Duration::from_secs_f64(rest)))
    } else {
        "-".to_owned()
    };
    let percent = (c.objects * 100).checked_div(total_objects).unwrap_or(100);
    format!(
        "progress: {}/{total_objects} objects ({percent}%), {} events, {:.1} of {:.1} MB, {rate:.2} MB/s, ETA {eta}, {} failed",
        c.objects,
        c.events,
        mb(c.bytes),
        mb(total_bytes),
        c.failed
    )
}

/// `1h02m03s`, `4m05s`, `6s`.
pub struct HumanDuration(pub Duration);

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0.as_secs();
        let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
        if h > 0 {
            write!(f, "{h}h{m:02}m{s:02}s")
        } else if m > 0 {
            write!(f, "{m}m{s:02}s")
        } else {
            write!(f, "{:.1}s", self.0.as_secs_f64())
        }
    }
}
