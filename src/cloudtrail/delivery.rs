//! The fast path for CloudTrail's delivery format `{"Records":[...]}`: the decoded stream is cut
//! into records by the structural scanner ([`crate::scan`]), with decompression running ahead
//! on a second thread where there is a second core. A document of another shape goes to the
//! general parser (`super::any`) with the bytes already read.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::mpsc;

use serde::de;

use super::readers::{Chunker, TotalCap, read_failure};
use super::{Finish, Format, Limits, ParseError, any};
use crate::scan::{RecordScanner, ScanError};

/// Size of the buffers the decoder hands to the scanner.
const CHUNK: usize = 256 * 1024;
/// Buffers in flight between the decoder thread and the scanner.
const QUEUE: usize = 4;

/// What the first bytes of a document say.
enum Detected {
    /// `{"Records":[` matched: the scanner reads the rest.
    Delivery,
    /// Another shape (or too short to tell): the general parser reads it.
    Other,
    /// The records already scanned made the caller stop.
    Stopped,
}

/// Reads a decoded document with the structural scanner when it starts with `{"Records":[`
/// (what CloudTrail writes), and with the general serde parser for `format` otherwise; hands
/// every record to `pick` until it says stop.
pub(super) fn read<D: Read + Send>(
    decoded: D,
    gzip: bool,
    format: Format,
    limits: &Limits,
    pick: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<Finish, ParseError> {
    let ahead = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    read_with(decoded, gzip, format, limits, ahead, pick)
}

/// [`read`], decoding ahead on a second thread or not.
fn read_with<D: Read + Send>(
    decoded: D,
    gzip: bool,
    format: Format,
    limits: &Limits,
    ahead: bool,
    pick: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<Finish, ParseError> {
    let mut scanner = match format {
        Format::Delivery => RecordScanner::new(limits.max_record_bytes),
        Format::Any => RecordScanner::concatenated(limits.max_record_bytes),
    };
    let mut decoded = Chunker::new(TotalCap::new(decoded, limits.max_decompressed_bytes));
    let mut chunk = vec![0; CHUNK];
    // Decide on the first bytes, on this thread, whether the fast path applies.
    match detect(&mut scanner, &mut decoded, &mut chunk, gzip, pick)? {
        Detected::Delivery => {}
        Detected::Stopped => return Ok(Finish::Stopped),
        Detected::Other => {
            // The general parser counts the decoded size from the start again, itself.
            let consumed = io::Cursor::new(scanner.into_consumed());
            let rest = consumed.chain(decoded.reader.inner);
            return any::parse(rest, format, limits, gzip, pick);
        }
    }
    if ahead {
        scan_decoding_ahead(decoded, scanner, gzip, pick)
    } else {
        scan_inline(decoded, scanner, &mut chunk, gzip, pick)
    }
}

/// Feeds the scanner until it has matched `{"Records":[` or found another shape.
fn detect<R: Read>(
    scanner: &mut RecordScanner,
    decoded: &mut Chunker<R>,
    chunk: &mut [u8],
    gzip: bool,
    pick: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<Detected, ParseError> {
    while !scanner.in_records() {
        let n = decoded.fill(chunk).map_err(|e| read_failure(e, gzip))?;
        if n == 0 {
            // Too short to tell: the general parser judges (and names what is wrong).
            return Ok(Detected::Other);
        }
        match scanner.push(&chunk[..n], pick) {
            Ok(ControlFlow::Continue(())) => {}
            Ok(ControlFlow::Break(())) => return Ok(Detected::Stopped),
            Err(ScanError::NotDelivery) => return Ok(Detected::Other),
            Err(e) => return Err(scan_failure(e, gzip)),
        }
    }
    Ok(Detected::Delivery)
}

/// Decodes and scans on this thread, one chunk after the other.
fn scan_inline<R: Read>(
    mut decoded: Chunker<R>,
    mut scanner: RecordScanner,
    chunk: &mut [u8],
    gzip: bool,
    pick: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<Finish, ParseError> {
    loop {
        let n = decoded.fill(chunk).map_err(|e| read_failure(e, gzip))?;
        if let Some(finish) = scan_chunk(&mut scanner, &chunk[..n], gzip, pick)? {
            return Ok(finish);
        }
    }
}

/// Decodes ahead on a second thread while this one scans; the buffers are recycled, so memory
/// stays flat. When the scan ends (the document's end, an error, or the caller's stop), the
/// channels close with this function's locals: the decoder thread ends after the buffer it is
/// filling, if any, and is joined before this returns.
fn scan_decoding_ahead<R: Read + Send>(
    decoded: Chunker<R>,
    mut scanner: RecordScanner,
    gzip: bool,
    pick: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<Finish, ParseError> {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<(Vec<u8>, usize)>>(QUEUE);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE + 2);
        for _ in 0..=QUEUE {
            let _ = empty_tx.send(vec![0; CHUNK]);
        }
        scope.spawn(move || decode_ahead(decoded, &empty_rx, &full_tx));
        loop {
            let (buf, n) = full_rx
                .recv()
                .map_err(|_| io::Error::other("the decoder thread stopped"))
                .and_then(|filled| filled)
                .map_err(|e| read_failure(e, gzip))?;
            if let Some(finish) = scan_chunk(&mut scanner, &buf[..n], gzip, pick)? {
                return Ok(finish);
            }
            let _ = empty_tx.send(buf);
        }
    })
}

/// The decoder thread: fills the empty buffers it is given and sends them back full, until the
/// end of the stream, a read error, or the scanner hangs up.
fn decode_ahead<R: Read>(
    mut decoded: Chunker<R>,
    empty: &mpsc::Receiver<Vec<u8>>,
    full: &mpsc::SyncSender<io::Result<(Vec<u8>, usize)>>,
) {
    while let Ok(mut buf) = empty.recv() {
        let result = decoded.fill(&mut buf).map(|n| (buf, n));
        let last = !matches!(result, Ok((_, n)) if n > 0);
        if full.send(result).is_err() || last {
            break;
        }
    }
}

/// Scans one decoded chunk (empty at the end of the stream); how the read ended, once it has.
fn scan_chunk(
    scanner: &mut RecordScanner,
    chunk: &[u8],
    gzip: bool,
    pick: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<Option<Finish>, ParseError> {
    if chunk.is_empty() {
        return scanner
            .finish()
            .map(|_| Some(Finish::End))
            .map_err(|e| scan_failure(e, gzip));
    }
    match scanner.push(chunk, pick) {
        Ok(ControlFlow::Continue(())) => Ok(None),
        Ok(ControlFlow::Break(())) => Ok(Some(Finish::Stopped)),
        Err(e) => Err(scan_failure(e, gzip)),
    }
}

/// The [`ParseError`] of a scan that failed.
fn scan_failure(e: ScanError, gzip: bool) -> ParseError {
    match e {
        ScanError::RecordTooLarge { record, limit } => ParseError::RecordTooLarge { record, limit },
        e => ParseError::Format {
            gzip,
            cause: <serde_json::Error as de::Error>::custom(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use flate2::bufread::MultiGzDecoder;

    use super::super::testing::{CountingReader, gzip, log};
    use super::super::{ParseStats, read_selected};
    use super::*;

    /// A record callback that goes on.
    fn go() -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    #[test]
    fn the_scanner_and_the_general_parser_see_the_same_records() {
        let log = log(11, 10_000, 200);
        assert!(log.len() > 2_000_000, "{}", log.len());
        // Spread whitespace around the structure, as a pretty-printer would.
        let spaced = String::from_utf8(log.clone())
            .expect("utf8")
            .replace("},{", "} ,\n\t{");
        for doc in [
            log,
            spaced.into_bytes(),
            b"{\"Records\":[{\"a\":1},2,\"x\",[3]]}".to_vec(),
        ] {
            let mut fast = Vec::new();
            let stats = read_selected(
                &doc[..],
                Format::Delivery,
                &Limits::default(),
                |_| true,
                |r| {
                    fast.push(r.to_vec());
                    go()
                },
            )
            .expect("reads");
            assert_eq!(stats.records, fast.len() as u64);
            for format in [Format::Delivery, Format::Any] {
                let mut general = Vec::new();
                let finish = any::parse(&doc[..], format, &Limits::default(), false, &mut |r| {
                    general.push(r.to_vec());
                    go()
                })
                .expect("parses");
                assert_eq!(finish, Finish::End);
                assert!(fast == general, "the two paths disagree ({format:?})");
            }
        }
    }

    #[test]
    fn a_large_file_streams_through_the_decoder_thread_in_order() {
        let records = 30_000;
        let gz = gzip(&log(5, records, 200));
        assert!(gz.len() > 3_000_000, "{}", gz.len());
        let mut last = String::new();
        let mut in_order = true;
        let stats = read_selected(
            &gz[..],
            Format::Delivery,
            &Limits::default(),
            |_| true,
            |r| {
                let text = String::from_utf8_lossy(r);
                let time = text
                    .split("\"eventTime\":\"")
                    .nth(1)
                    .unwrap_or("")
                    .get(..20)
                    .unwrap_or("")
                    .to_owned();
                in_order &= time >= last;
                last = time;
                go()
            },
        )
        .expect("reads");
        assert_eq!(stats.records, u64::from(records));
        assert_eq!(stats.bytes, gz.len() as u64);
        assert_eq!(stats.finish, Finish::End);
        assert!(in_order, "records arrive in file order");
    }

    /// Reads `input` through [`read_selected`], stopping after the first record; the stats,
    /// the bytes read from `input`, and the time it took.
    fn stop_after_one(input: &[u8], format: Format) -> (ParseStats, u64, Duration) {
        let bytes = Arc::new(AtomicU64::new(0));
        let reader = CountingReader {
            inner: input,
            bytes: Arc::clone(&bytes),
        };
        let started = Instant::now();
        let mut handed = 0;
        let stats = read_selected(
            reader,
            format,
            &Limits::default(),
            |_| true,
            |_| {
                handed += 1;
                ControlFlow::Break(())
            },
        )
        .expect("a stop is not an error");
        let took = started.elapsed();
        assert_eq!(handed, 1, "nothing is handed over after the stop");
        (stats, bytes.load(Ordering::Relaxed), took)
    }

    #[test]
    fn a_stop_after_the_first_record_reads_little_of_a_large_gzip_file() {
        // About 16 MB of records that gzip cannot shrink much: some 8 MB compressed.
        let gz = gzip(&log(7, 16_000, 1000));
        assert!(gz.len() > 6_000_000, "{}", gz.len());
        // A delivery document, and JSON lines (the general parser's any-shape path).
        let text = String::from_utf8(log(8, 16_000, 1000)).expect("utf8");
        let lines = text
            .trim_start_matches("{\"Records\":[")
            .trim_end_matches("]}")
            .replace(",{\"eventTime\"", "\n{\"eventTime\"");
        let gz_lines = gzip(lines.as_bytes());
        for (what, input, format) in [
            ("delivery", &gz, Format::Delivery),
            ("delivery, any shape", &gz, Format::Any),
            ("JSON lines, any shape", &gz_lines, Format::Any),
        ] {
            let (stats, read, took) = stop_after_one(input, format);
            assert_eq!(stats.finish, Finish::Stopped, "{what}");
            assert_eq!(stats.records, 1, "{what}");
            assert!(stats.gzip, "{what}");
            assert_eq!(stats.bytes, read, "{what}");
            assert!(
                read < input.len() as u64 / 8,
                "{what}: {read} of {} bytes read",
                input.len()
            );
            assert!(took < Duration::from_secs(2), "{what}: {took:?}");
        }
    }

    #[test]
    fn a_stop_ends_both_scanning_paths_at_once() {
        // Some 16 MB (8 MB compressed), stopped after 1 MB, past the first chunk the scanner reads
        // itself: the decoder thread has started when the stop comes.
        let gz = gzip(&log(9, 16_000, 1000));
        for ahead in [true, false] {
            let bytes = Arc::new(AtomicU64::new(0));
            let reader = CountingReader {
                inner: &gz[..],
                bytes: Arc::clone(&bytes),
            };
            let mut seen = 0;
            let finish = read_with(
                MultiGzDecoder::new(io::BufReader::new(reader)),
                true,
                Format::Delivery,
                &Limits::default(),
                ahead,
                &mut |_| {
                    seen += 1;
                    if seen == 1_000 {
                        ControlFlow::Break(())
                    } else {
                        go()
                    }
                },
            )
            .expect("a stop is not an error");
            assert_eq!((finish, seen), (Finish::Stopped, 1_000), "ahead: {ahead}");
            let read = bytes.load(Ordering::Relaxed);
            assert!(
                read < gz.len() as u64 / 4,
                "ahead: {ahead}: {read} of {}",
                gz.len()
            );
        }
    }

    #[test]
    fn a_record_limit_below_the_default_is_honoured_on_every_path() {
        // The general parser measures a record to within one read buffer (64 KiB).
        let limit = 100 << 10;
        let limits = Limits {
            max_record_bytes: limit,
            ..Limits::default()
        };
        let small = r#"{"eventID":"1"}"#;
        let big = format!(r#"{{"eventID":"2","pad":"{}"}}"#, "x".repeat(300 << 10));
        let delivery = format!(r#"{{"Records":[{small},{big}]}}"#);
        let other_first = format!(r#"{{"x":0,"Records":[{small},{big}]}}"#);
        let lines = format!("{small}\n{big}\n");
        let cases = [
            ("delivery", &delivery, Format::Delivery),
            ("delivery, any shape", &delivery, Format::Any),
            ("another member first", &other_first, Format::Delivery),
            ("another member first, any shape", &other_first, Format::Any),
            ("JSON lines", &lines, Format::Any),
        ];
        for (what, doc, format) in cases {
            for ahead in [true, false] {
                let mut seen = Vec::new();
                let err = read_with(doc.as_bytes(), false, format, &limits, ahead, &mut |r| {
                    seen.push(r.len());
                    go()
                })
                .expect_err("too large");
                assert!(
                    matches!(err, ParseError::RecordTooLarge { record: 2, limit: l } if l == limit),
                    "{what}, ahead: {ahead}: {err}"
                );
                assert_eq!(seen, [small.len()], "{what}");
            }
        }
        // The members after Records are held whole: the record limit bounds them too.
        let tail = format!(r#"{{"Records":[{small}],"x":{big}}}"#);
        for ahead in [true, false] {
            let err = read_with(
                tail.as_bytes(),
                false,
                Format::Delivery,
                &limits,
                ahead,
                &mut |_| go(),
            )
            .expect_err("too large");
            assert!(err.to_string().contains("too large"), "{err}");
        }
    }
}
