//! Reading a CloudTrail log file: gzip detection by magic bytes, multi-member gunzip, and a
//! streaming parse of the delivery format `{"Records":[...]}`.
//!
//! The file is never held in memory as a whole, nor turned into a `serde_json::Value` tree: the
//! parser walks the top-level object, skips every member but `Records`, and hands each record to
//! a callback as raw JSON text as soon as it has been read. What to do with a record (most of
//! them are not Auto Scaling events) is the caller's business, and so is when to stop: the
//! callback can end the read after any record.
//!
//! The fast path for the delivery format is in `delivery` (a decoder thread and the structural
//! scanner of [`crate::scan`]), the general serde parser of every other shape in `any`, and the
//! reader wrappers that enforce the [`Limits`] in `readers`.
//!
//! The Lambda reads only the delivery format ([`Format::Delivery`]). The CLI also takes the
//! shapes people keep on disk ([`Format::Any`]): bare arrays, single records, JSON lines,
//! EventBridge envelopes (Auto Scaling's activities among them) and `lookup-events` output.
//!
//! Hostile input is bounded ([`Limits`]): the decompressed stream stops with an error past
//! `max_decompressed_bytes` (a decompression bomb never gets further than that, and is never
//! held in memory), and a single record is refused past `max_record_bytes` (a record is held in
//! memory while it is handed over). Nesting costs no stack here: records are captured as raw
//! text by serde_json's iterative skipper, whatever their depth; the extractor then rejects the
//! records it cannot store.

mod any;
mod delivery;
mod readers;

use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;

use flate2::bufread::MultiGzDecoder;

use readers::Counted;

/// The two bytes every gzip member starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Read buffer size for both the compressed and the decompressed stream.
const BUF_SIZE: usize = 64 * 1024;

/// Size limits of the reader, against decompression bombs and absurd records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes a file may decompress to (`MAX_DECOMPRESSED_BYTES`, default 2 GiB; for a
    /// plain file, its size). CloudTrail delivers a file every 5 minutes per region and account;
    /// real ones stay far below this.
    pub max_decompressed_bytes: u64,
    /// The largest single record (`MAX_RECORD_BYTES`, default 32 MiB). CloudTrail leaves out
    /// `requestParameters` and `responseElements` above 100 KB, so real records are small.
    pub max_record_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: 2 * 1024 * 1024 * 1024,
            max_record_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Why a log file could not be read as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The object holds no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The file decompresses to more than [`Limits::max_decompressed_bytes`]: reading stopped
    /// there (a decompression bomb, or not a CloudTrail log file).
    #[error(
        "the file decompresses to more than {limit} bytes (MAX_DECOMPRESSED_BYTES): reading stopped there"
    )]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// One record is larger than [`Limits::max_record_bytes`] (CloudTrail writes no such
    /// record): reading stopped there.
    #[error(
        "record {record} (counted from the end of the one before) is larger than {limit} bytes (MAX_RECORD_BYTES): reading stopped there"
    )]
    RecordTooLarge {
        /// The record's position in the file, from 1.
        record: u64,
        /// The limit.
        limit: u64,
    },
    /// Reading or decompressing failed (a broken connection, a corrupt or truncated gzip stream).
    #[error("read failed{}: {cause}", if *.gzip { " (gzip)" } else { "" })]
    Read {
        /// Whether the file was gzip-compressed.
        gzip: bool,
        /// The underlying I/O or decompression error.
        #[source]
        cause: io::Error,
    },
    /// The bytes are not a CloudTrail delivery file (`{"Records":[...]}`).
    #[error("not a CloudTrail log file{}: {cause}", if *.gzip { " (after gunzip)" } else { "" })]
    Format {
        /// Whether the file was gzip-compressed.
        gzip: bool,
        /// The JSON error, with line and column.
        #[source]
        cause: serde_json::Error,
    },
}

/// What a successful parse saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Whether the file was gzip-compressed.
    pub gzip: bool,
    /// Number of records read (handed over or not): all the file's, unless it was stopped.
    pub records: u64,
    /// Bytes read from the input (compressed size for gzip).
    pub bytes: u64,
    /// Whether the file was read to its end or stopped by the caller.
    pub finish: Finish,
}

/// How a read that did not fail ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Finish {
    /// The input was read to its end.
    #[default]
    End,
    /// The record callback returned [`ControlFlow::Break`]: reading stopped right after that
    /// record, and the rest of the input was neither read nor decompressed.
    Stopped,
}

/// The JSON shapes a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Only CloudTrail's delivery format `{"Records":[...]}` (what the trail writes to S3).
    Delivery,
    /// Also what people have on disk: a bare array of records, one record, JSON lines or
    /// concatenated documents (as Firehose writes them), EventBridge envelopes
    /// (`{"detail-type":..,"detail":{record}}`; an Auto Scaling activity's envelope, which has
    /// no record, is handed over whole) and `lookup-events` output
    /// (`{"Events":[{"CloudTrailEvent":"<record as text>"}]}`).
    Any,
}

/// Reads a whole CloudTrail log file (gzip or plain) in the JSON shapes of `format`: counts
/// every record, asks `select` about each one's raw bytes, and hands the selected ones to
/// `on_record`, in file order. A file that starts with the gzip magic bytes is gunzipped (all
/// members); anything else is read as plain JSON.
///
/// The records `select` turns down are never parsed: for the delivery format, a structural scan
/// (see [`crate::scan`]) finds where each record starts and ends, so the cost of a record
/// nobody wants is little more than the gunzip that produced it. The bytes handed over are one
/// JSON value each, not yet validated for a delivery file (the caller parses them; it may find
/// them malformed). With [`Format::Any`], a delivery document is still scanned record by
/// record; the other shapes are read one top-level value (or one array element) at a time.
///
/// Where a second core is available, decompression runs on its own thread, ahead of the scan,
/// through a bounded queue of buffers: memory stays flat whatever the file size. `limits`
/// bound the decompressed size and the size of one record.
///
/// When `on_record` returns [`ControlFlow::Break`], reading stops at once: no further record is
/// read, no further input is read or decompressed (the decoder thread is stopped and joined),
/// and the stats say [`Finish::Stopped`].
///
/// # Errors
/// A [`ParseError`] when the file is empty, cannot be read or decompressed, passes a limit
/// ([`ParseError::TooLarge`], [`ParseError::RecordTooLarge`]), or is not in a shape of
/// `format`. Records already handed to `on_record` stay handed (`select` has seen every record
/// before the failure): the caller decides whether to keep what was read before the error.
pub fn read_selected<R, S, F>(
    input: R,
    format: Format,
    limits: &Limits,
    mut select: S,
    mut on_record: F,
) -> Result<ParseStats, ParseError>
where
    R: Read + Send,
    S: FnMut(&[u8]) -> bool,
    F: FnMut(&[u8]) -> ControlFlow<()>,
{
    let mut counted = Counted::new(input);
    let mut raw = BufReader::with_capacity(BUF_SIZE, &mut counted);
    let gzip = starts_with_gzip_magic(&mut raw)?;
    let mut records = 0;
    let mut pick = |bytes: &[u8]| {
        records += 1;
        if select(bytes) {
            on_record(bytes)
        } else {
            ControlFlow::Continue(())
        }
    };
    // One byte read so far is ambiguous only for 0x1f, which is not valid JSON either: reading it
    // as plain text still ends in a clear format error.
    let finish = if gzip {
        delivery::read(MultiGzDecoder::new(raw), gzip, format, limits, &mut pick)?
    } else {
        delivery::read(raw, gzip, format, limits, &mut pick)?
    };
    Ok(ParseStats {
        gzip,
        records,
        bytes: counted.bytes,
        finish,
    })
}

/// Whether the input starts with the gzip magic bytes.
fn starts_with_gzip_magic(raw: &mut impl BufRead) -> Result<bool, ParseError> {
    loop {
        match raw.fill_buf() {
            Ok([]) => return Err(ParseError::Empty),
            Ok(head) => return Ok(head.starts_with(&GZIP_MAGIC)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(cause) => return Err(ParseError::Read { gzip: false, cause }),
        }
    }
}

#[cfg(test)]
mod testing {
    //! What the tests of the reader share: gzip, a read of every record, a seeded generator of
    //! large documents, and a reader that counts what is read from it.

    use std::io::{self, Read, Write};
    use std::ops::ControlFlow;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::{Format, Limits, ParseError, ParseStats, read_selected};

    pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).expect("write to Vec");
        enc.finish().expect("finish gzip")
    }

    /// Every record of `input` as text, read in `format` within `limits`, with the stats.
    pub(super) fn read_all(
        input: impl Read + Send,
        format: Format,
        limits: &Limits,
    ) -> Result<(ParseStats, Vec<String>), ParseError> {
        let mut seen = Vec::new();
        let stats = read_selected(
            input,
            format,
            limits,
            |_| true,
            |r| {
                seen.push(String::from_utf8_lossy(r).into_owned());
                ControlFlow::Continue(())
            },
        )?;
        assert_eq!(stats.records, seen.len() as u64, "every record is selected");
        Ok((stats, seen))
    }

    /// A seeded delivery document of `records` records in `eventTime` order, with nested
    /// values, strings holding brackets, quotes and escapes, and `pad` random hex digits each
    /// (which gzip cannot shrink much).
    pub(super) fn log(seed: u64, records: u32, pad: usize) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut out = String::from(r#"{"Records":["#);
        for i in 0..records {
            if i > 0 {
                out.push(',');
            }
            let hex: String = (0..pad.div_ceil(16))
                .map(|_| format!("{:016x}", rng.u64(..)))
                .collect();
            let depth = rng.usize(0..6);
            out.push_str(&format!(
                r#"{{"eventTime":"2024-03-05T{:02}:{:02}:{:02}Z","eventID":"{i}","eventSource":"s{}.amazonaws.com","n":{}1{},"s":"a}}]\"{{[\\","u":"\u00e9","pad":"{}"}}"#,
                i / 3600 % 24,
                i / 60 % 60,
                i % 60,
                rng.u8(..),
                "[{\"x\":[".repeat(depth),
                "]}]".repeat(depth),
                &hex[..pad],
            ));
        }
        out.push_str("]}");
        out.into_bytes()
    }

    /// A reader that counts the bytes read from it where the test can see them.
    pub(super) struct CountingReader<R> {
        pub(super) inner: R,
        pub(super) bytes: Arc<AtomicU64>,
    }

    impl<R: Read> Read for CountingReader<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.bytes.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::testing::{gzip, read_all};
    use super::*;

    fn collect(input: Vec<u8>) -> Result<(ParseStats, Vec<String>), ParseError> {
        let len = input.len() as u64;
        let read = read_all(io::Cursor::new(input), Format::Delivery, &Limits::default())?;
        assert_eq!(read.0.bytes, len, "the whole input is read");
        assert_eq!(read.0.finish, Finish::End);
        Ok(read)
    }

    /// The records' lengths, read in `format` within `limits`.
    fn lengths(input: &[u8], format: Format, limits: &Limits) -> Result<Vec<usize>, ParseError> {
        read_all(input, format, limits).map(|(_, seen)| seen.iter().map(String::len).collect())
    }

    const DOC: &[u8] = br#"{"Records":[{"eventName":"A","n":[1,{"x":null}]},{"eventName":"B"}]}"#;

    #[test]
    fn plain_json_is_read_as_is() {
        let (stats, seen) = collect(DOC.to_vec()).expect("parses");
        assert_eq!(
            stats,
            ParseStats {
                gzip: false,
                records: 2,
                bytes: DOC.len() as u64,
                finish: Finish::End,
            }
        );
        assert_eq!(
            seen,
            [
                r#"{"eventName":"A","n":[1,{"x":null}]}"#,
                r#"{"eventName":"B"}"#
            ]
        );
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes() {
        let (stats, seen) = collect(gzip(DOC)).expect("parses");
        assert!(stats.gzip);
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn multi_member_gzip_is_read_to_the_end() {
        let (a, b) = DOC.split_at(20);
        let mut two = gzip(a);
        two.extend(gzip(b));
        let (stats, seen) = collect(two).expect("parses");
        assert_eq!(stats.records, 2);
        assert_eq!(seen[1], r#"{"eventName":"B"}"#);
    }

    #[test]
    fn other_members_are_skipped_in_any_order() {
        let doc = br#"{"digest":{"deep":[[[]]]},"Records":[{"a":1}],"tail":"x"}"#;
        let (stats, _) = collect(doc.to_vec()).expect("parses");
        assert_eq!(stats.records, 1);
    }

    #[test]
    fn whitespace_and_empty_records() {
        let (stats, seen) = collect(b" \n{ \"Records\" : [ ] }\n".to_vec()).expect("parses");
        assert_eq!((stats.records, seen.len()), (0, 0));
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(collect(Vec::new()), Err(ParseError::Empty)));
    }

    #[test]
    fn documents_that_are_not_cloudtrail_are_format_errors() {
        for bad in [
            &b"{}"[..],
            br#"{"Records":null}"#,
            br#"{"Records":{}}"#,
            br#"[{"eventName":"A"}]"#,
            b"not json",
            br#"{"Records":[]} trailing"#,
            br#"{"Records":[],"Records":[]}"#,
        ] {
            let err = collect(bad.to_vec()).expect_err("must fail");
            assert!(
                matches!(err, ParseError::Format { gzip: false, .. }),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        let err = collect(gzip(b"hello")).expect_err("must fail");
        assert!(
            matches!(err, ParseError::Format { gzip: true, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("after gunzip"), "{err}");
    }

    #[test]
    fn missing_records_is_named_in_the_error() {
        let err = collect(b"{}".to_vec()).expect_err("must fail");
        assert!(err.to_string().contains("Records"), "{err}");
    }

    #[test]
    fn truncated_gzip_is_a_read_error_after_the_records_before_it() {
        let big: Vec<u8> = {
            let mut s = String::from(r#"{"Records":["#);
            for i in 0..2000 {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&format!(
                    r#"{{"eventID":"{i}","pad":"{}"}}"#,
                    "x".repeat(50)
                ));
            }
            s.push_str("]}");
            s.into_bytes()
        };
        let mut gz = gzip(&big);
        gz.truncate(gz.len() / 2);
        let mut seen = 0;
        let err = read_selected(
            io::Cursor::new(gz),
            Format::Delivery,
            &Limits::default(),
            |_| true,
            |_| {
                seen += 1;
                ControlFlow::Continue(())
            },
        )
        .expect_err("truncated");
        assert!(matches!(err, ParseError::Read { gzip: true, .. }), "{err}");
        assert!(seen > 0, "records before the cut are handed over");
        assert!(seen < 2000);
    }

    #[test]
    fn corrupt_gzip_is_a_read_error() {
        let mut gz = gzip(DOC);
        let mid = gz.len() / 2;
        for b in &mut gz[10..mid] {
            *b ^= 0x5a;
        }
        let err = collect(gz).expect_err("corrupt");
        assert!(matches!(err, ParseError::Read { gzip: true, .. }), "{err}");
    }

    /// `members` gzip members, each of `block` spaces (the first opening a delivery document):
    /// a few KB that inflate to `members * block` bytes.
    fn bomb(members: usize, block: usize) -> Vec<u8> {
        let mut head = b"{\"Records\":[{\"a\":1}".to_vec();
        head.resize(block, b' ');
        let mut out = gzip(&head);
        let spaces = gzip(&vec![b' '; block]);
        for _ in 1..members {
            out.extend_from_slice(&spaces);
        }
        out
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        let gz = bomb(64, 1 << 20);
        assert!(gz.len() < 100_000, "{}", gz.len());
        let limits = Limits {
            max_decompressed_bytes: 8 << 20,
            ..Limits::default()
        };
        let mut seen = 0;
        let err = read_selected(
            gz.as_slice(),
            Format::Delivery,
            &limits,
            |_| true,
            |_| {
                seen += 1;
                ControlFlow::Continue(())
            },
        )
        .expect_err("too large");
        assert!(
            matches!(err, ParseError::TooLarge { limit } if limit == 8 << 20),
            "{err}"
        );
        assert!(err.to_string().contains("MAX_DECOMPRESSED_BYTES"), "{err}");
        assert_eq!(seen, 1, "the record before the bomb was handed over");
        // Under the limit, the same file is only whitespace away from its end.
        let mut whole = bomb(4, 1 << 10);
        whole.extend(gzip(b"]}"));
        let limits = Limits {
            max_decompressed_bytes: 5 << 10,
            ..Limits::default()
        };
        let (stats, _) = read_all(whole.as_slice(), Format::Delivery, &limits).expect("fits");
        assert_eq!(stats.records, 1);
    }

    #[test]
    fn the_decompression_limit_applies_to_plain_files_and_the_any_format() {
        let limits = Limits {
            max_decompressed_bytes: 100,
            ..Limits::default()
        };
        let mut doc = b"{\"Records\":[".to_vec();
        doc.resize(200, b' ');
        doc.extend_from_slice(b"]}");
        for format in [Format::Delivery, Format::Any] {
            let err = read_all(doc.as_slice(), format, &limits).expect_err("too large");
            assert!(matches!(err, ParseError::TooLarge { limit: 100 }), "{err}");
        }
    }

    #[test]
    fn records_turned_down_are_counted_not_handed_over() {
        let doc = br#"{"Records":[{"n":1},{"n":2},{"n":3},{"n":4}]}"#;
        let mut seen = Vec::new();
        let stats = read_selected(
            &doc[..],
            Format::Delivery,
            &Limits::default(),
            |r: &[u8]| r.ends_with(b"2}") || r.ends_with(b"4}"),
            |r| {
                seen.push(String::from_utf8_lossy(r).into_owned());
                ControlFlow::Continue(())
            },
        )
        .expect("reads");
        assert_eq!(stats.records, 4);
        assert_eq!(seen, [r#"{"n":2}"#, r#"{"n":4}"#]);
    }

    #[test]
    fn a_record_over_the_record_limit_stops_the_file() {
        let limits = Limits {
            max_record_bytes: 256 << 10,
            ..Limits::default()
        };
        let small = r#"{"eventID":"1"}"#;
        let big = format!(r#"{{"eventID":"2","blob":"{}"}}"#, "x".repeat(1 << 20));
        let doc = format!(r#"{{"Records":[{small},{big},{small}]}}"#);
        for format in [Format::Delivery, Format::Any] {
            let mut seen = Vec::new();
            let err = read_selected(
                gzip(doc.as_bytes()).as_slice(),
                format,
                &limits,
                |_| true,
                |r| {
                    seen.push(r.len());
                    ControlFlow::Continue(())
                },
            )
            .expect_err("too large");
            assert!(
                matches!(err, ParseError::RecordTooLarge { record: 2, limit } if limit == 256 << 10),
                "{err}"
            );
            assert_eq!(seen, [small.len()]);
        }
        // Members around Records are not records: they are skipped whatever their size.
        let doc = format!(r#"{{"digest":{big},"Records":[{small}]}}"#);
        let (stats, _) = read_all(doc.as_bytes(), Format::Delivery, &limits)
            .expect("a big member that is not a record is fine");
        assert_eq!(stats.records, 1);
    }

    #[test]
    fn nesting_thousands_of_levels_deep_costs_no_stack() {
        let depth = 200_000;
        let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let doc = format!(r#"{{"x":{deep},"Records":[{deep},{{"a":{deep}}}]}}"#);
        let seen = lengths(doc.as_bytes(), Format::Delivery, &Limits::default()).expect("parses");
        assert_eq!(seen, [deep.len(), deep.len() + 6]);
    }
}
