//! Reading a CloudTrail log file: gzip detection by magic bytes, multi-member gunzip, and a
//! streaming parse of the delivery format `{"Records":[...]}`.
//!
//! The file is never held in memory as a whole, nor turned into a `serde_json::Value` tree: the
//! parser walks the top-level object, skips every member but `Records`, and hands each record to
//! a callback as raw JSON text ([`RawValue`]) as soon as it has been read. What to do with a
//! record (most of them are not Auto Scaling events) is the caller's business.
//!
//! The Lambda reads only the delivery format ([`Format::Delivery`]). The CLI also takes the
//! shapes people keep on disk ([`Format::Any`]): bare arrays, single records, JSON lines,
//! EventBridge envelopes and `lookup-events` output.
//!
//! Hostile input is bounded ([`Limits`]): the decompressed stream stops with an error past
//! `max_decompressed_bytes` (a decompression bomb never gets further than that, and is never
//! held in memory), and a single record is refused past `max_record_bytes` (a record is held in
//! memory while it is handed over). Nesting costs no stack here: records are captured as raw
//! text by serde_json's iterative skipper, whatever their depth; the extractor then rejects the
//! records it cannot store.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use flate2::bufread::MultiGzDecoder;

use crate::scan::{self, RecordScanner, ScanError};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

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
        cause: io::Error,
    },
    /// The bytes are not a CloudTrail delivery file (`{"Records":[...]}`).
    #[error("not a CloudTrail log file{}: {cause}", if *.gzip { " (after gunzip)" } else { "" })]
    Format {
        /// Whether the file was gzip-compressed.
        gzip: bool,
        /// The JSON error, with line and column.
        cause: serde_json::Error,
    },
}

/// What a successful parse saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Whether the file was gzip-compressed.
    pub gzip: bool,
    /// Number of records in the file (handed over or not).
    pub records: u64,
    /// Bytes read from the input (compressed size for gzip).
    pub bytes: u64,
}

/// The JSON shapes a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Only CloudTrail's delivery format `{"Records":[...]}` (what the trail writes to S3).
    Delivery,
    /// Also what people have on disk: a bare array of records, one record, JSON lines or
    /// concatenated documents, EventBridge envelopes (`{"detail-type":..,"detail":{record}}`)
    /// and `lookup-events` output (`{"Events":[{"CloudTrailEvent":"<record as text>"}]}`).
    Any,
}

/// Reads a whole CloudTrail log file (gzip or plain) and calls `on_record` with each record's
/// raw JSON, in file order. A file that starts with the gzip magic bytes is gunzipped (all
/// members); anything else is read as plain JSON. Members other than `Records` are skipped
/// without being built.
///
/// # Errors
/// A [`ParseError`] when the file is empty, cannot be read or decompressed, or is not a
/// `{"Records":[...]}` document. Records already handed to `on_record` stay handed: the caller
/// decides whether to keep what was read before the error.
pub fn for_each_record<R, F>(input: R, on_record: F) -> Result<ParseStats, ParseError>
where
    R: Read + Send,
    F: FnMut(&RawValue),
{
    read_records(input, Format::Delivery, on_record)
}

/// [`for_each_record`] for the shapes of `format`. With [`Format::Any`], a delivery document
/// is still streamed record by record; the other shapes are read one top-level value (or one
/// array element) at a time.
///
/// # Errors
/// As [`for_each_record`]; with [`Format::Any`], a document of none of the shapes is a format
/// error, and so is a record that is not valid JSON.
pub fn read_records<R, F>(input: R, format: Format, on_record: F) -> Result<ParseStats, ParseError>
where
    R: Read + Send,
    F: FnMut(&RawValue),
{
    read_records_with(input, format, &Limits::default(), on_record)
}

/// [`read_records`] within `limits`.
///
/// # Errors
/// As [`read_records`], and [`ParseError::TooLarge`] / [`ParseError::RecordTooLarge`] when a
/// limit is passed (the records before it were handed over).
pub fn read_records_with<R, F>(
    input: R,
    format: Format,
    limits: &Limits,
    mut on_record: F,
) -> Result<ParseStats, ParseError>
where
    R: Read + Send,
    F: FnMut(&RawValue),
{
    let mut invalid = None;
    let stats = read_selected(
        input,
        format,
        limits,
        |_| true,
        |bytes| {
            if invalid.is_some() {
                return;
            }
            match serde_json::from_slice::<&RawValue>(bytes) {
                Ok(raw) => on_record(raw),
                Err(e) => invalid = Some(e),
            }
        },
    )?;
    match invalid {
        None => Ok(stats),
        Some(cause) => Err(ParseError::Format {
            gzip: stats.gzip,
            cause,
        }),
    }
}

/// The core reader: counts every record, asks `select` about each one's raw bytes, and hands
/// the selected ones to `on_record`, in file order. The records `select` turns down are never
/// parsed: for the delivery format, a structural scan (see [`crate::scan`]) finds where each
/// record starts and ends, so the cost of a record nobody wants is little more than the gunzip
/// that produced it. The bytes handed over are one JSON value each, not yet validated for a
/// delivery file (the caller parses them; it may find them malformed).
///
/// Where a second core is available, decompression runs on its own thread, ahead of the scan,
/// through a bounded queue of buffers: memory stays flat whatever the file size. `limits`
/// bound the decompressed size and the size of one record.
///
/// # Errors
/// As [`read_records_with`]; `select` has seen every record before the failure.
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
    F: FnMut(&[u8]),
{
    let mut counted = Counted {
        inner: input,
        bytes: 0,
    };
    let mut raw = BufReader::with_capacity(BUF_SIZE, &mut counted);
    let gzip = loop {
        match raw.fill_buf() {
            Ok([]) => return Err(ParseError::Empty),
            Ok(head) => break head.starts_with(&GZIP_MAGIC),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(ParseError::Read {
                    gzip: false,
                    cause: source,
                });
            }
        }
    };
    let mut pick = |bytes: &[u8]| {
        if select(bytes) {
            on_record(bytes);
        }
    };
    // One byte read so far is ambiguous only for 0x1f, which is not valid JSON either: reading it
    // as plain text still ends in a clear format error.
    let records = if gzip {
        read_delivery(MultiGzDecoder::new(raw), gzip, format, limits, &mut pick)?
    } else {
        read_delivery(raw, gzip, format, limits, &mut pick)?
    };
    Ok(ParseStats {
        gzip,
        records,
        bytes: counted.bytes,
    })
}

/// Size of the buffers the decoder hands to the scanner.
const CHUNK: usize = 256 * 1024;
/// Buffers in flight between the decoder thread and the scanner.
const QUEUE: usize = 4;

/// Reads a decoded document with the structural scanner when it starts with `{"Records":[`
/// (what CloudTrail writes), and with the general serde parser for `format` otherwise.
fn read_delivery<D: Read + Send>(
    decoded: D,
    gzip: bool,
    format: Format,
    limits: &Limits,
    pick: &mut impl FnMut(&[u8]),
) -> Result<u64, ParseError> {
    let read_error = |cause: io::Error| read_failure(cause, gzip);
    let format_error = |e: scan::ScanError| match e {
        ScanError::RecordTooLarge { record, limit } => ParseError::RecordTooLarge { record, limit },
        e => ParseError::Format {
            gzip,
            cause: <serde_json::Error as de::Error>::custom(e),
        },
    };
    // Decide on the first bytes, on this thread, whether the fast path applies.
    let mut scanner = match format {
        Format::Delivery => RecordScanner::new(),
        Format::Any => RecordScanner::concatenated(),
    }
    .with_record_limit(limits.max_record_bytes);
    let mut chunk = vec![0; CHUNK];
    let mut decoded = Chunker {
        reader: TotalCap {
            inner: decoded,
            limit: limits.max_decompressed_bytes,
            total: 0,
        },
        pending: None,
    };
    let not_delivery = loop {
        if scanner.in_records() {
            break false;
        }
        let n = decoded.fill(&mut chunk).map_err(read_error)?;
        if n == 0 {
            // Too short to tell: the general parser judges (and names what is wrong).
            break true;
        }
        match scanner.push(&chunk[..n], pick) {
            Ok(()) => {}
            Err(ScanError::NotDelivery) => break true,
            Err(e) => return Err(format_error(e)),
        }
    };
    if not_delivery {
        let consumed = scanner.into_consumed();
        let rest = io::Cursor::new(consumed).chain(decoded.reader.inner);
        let meter = Meter::new(limits);
        let reader = BufReader::with_capacity(
            BUF_SIZE,
            Capped {
                inner: rest,
                meter: meter.clone(),
            },
        );
        let hand_over = |r: &RawValue| pick(r.get().as_bytes());
        let parsed = match format {
            Format::Delivery => parse_records(reader, &meter, hand_over),
            Format::Any => parse_any(reader, &meter, hand_over),
        };
        return parsed.map_err(|e| classify(e, gzip));
    }
    let parallel = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    if !parallel {
        loop {
            let n = decoded.fill(&mut chunk).map_err(read_error)?;
            if n == 0 {
                return scanner.finish().map_err(format_error);
            }
            scanner.push(&chunk[..n], pick).map_err(format_error)?;
        }
    }
    // Decode ahead on a second thread; recycle the buffers so memory stays flat.
    std::thread::scope(|scope| {
        let (full_tx, full_rx) =
            std::sync::mpsc::sync_channel::<io::Result<(Vec<u8>, usize)>>(QUEUE);
        let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(QUEUE + 2);
        for _ in 0..QUEUE + 1 {
            let _ = empty_tx.send(vec![0; CHUNK]);
        }
        scope.spawn(move || {
            while let Ok(mut buf) = empty_rx.recv() {
                let result = decoded.fill(&mut buf).map(|n| (buf, n));
                let last = !matches!(result, Ok((_, n)) if n > 0);
                if full_tx.send(result).is_err() || last {
                    break;
                }
            }
        });
        loop {
            let (buf, n) = full_rx
                .recv()
                .map_err(|_| read_error(io::Error::other("the decoder thread stopped")))?
                .map_err(read_error)?;
            if n == 0 {
                return scanner.finish().map_err(format_error);
            }
            scanner.push(&buf[..n], pick).map_err(format_error)?;
            let _ = empty_tx.send(buf);
        }
    })
}

/// Stops a decoded stream one byte past [`Limits::max_decompressed_bytes`] (a decompression
/// bomb): the fast path's own counter, owned by the decoder thread.
struct TotalCap<R> {
    inner: R,
    limit: u64,
    total: u64,
}

impl<R: Read> Read for TotalCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.total > self.limit {
            return Err(io::Error::other(LimitExceeded::Total(self.limit)));
        }
        let room = self.limit - self.total + 1;
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        self.total += n as u64;
        if self.total > self.limit {
            return Err(io::Error::other(LimitExceeded::Total(self.limit)));
        }
        Ok(n)
    }
}

/// A reader read in large chunks, keeping an error back until the bytes read before it have
/// been handed over (so the records before a broken spot are not lost with it).
struct Chunker<R> {
    reader: R,
    pending: Option<io::Error>,
}

impl<R: Read> Chunker<R> {
    /// Fills up to half of `buf` or more; 0 only at the end of the stream.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut filled = 0;
        while filled < buf.len() / 2 {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if filled > 0 => {
                    self.pending = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

/// Counts the bytes read from the underlying (compressed) stream.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Counts the decoded bytes, overall and since the current record started, shared between the
/// reader that enforces the [`Limits`] and the visitors that say where records start.
#[derive(Clone)]
struct Meter {
    limits: Limits,
    /// Decoded bytes read so far.
    total: Rc<Cell<u64>>,
    /// `(position of the record in the file, decoded bytes when it started)` while a record is
    /// being read.
    record: Rc<Cell<Option<(u64, u64)>>>,
}

impl Meter {
    fn new(limits: &Limits) -> Self {
        Self {
            limits: *limits,
            total: Rc::new(Cell::new(0)),
            record: Rc::new(Cell::new(None)),
        }
    }

    /// Record number `n` (from 1) starts here. The count includes the reader's read-ahead (at
    /// most one buffer), which is precise enough for a limit.
    fn record_starts(&self, n: u64) {
        self.record.set(Some((n, self.total.get())));
    }

    /// No record is being read (between records, or the array ended).
    fn records_end(&self) {
        self.record.set(None);
    }
}

/// The error a [`Capped`] reader raises when a limit is passed; found again in the JSON error.
#[derive(Debug, thiserror::Error)]
enum LimitExceeded {
    #[error("decompressed size limit of {0} bytes passed")]
    Total(u64),
    #[error("record {record} passed the record size limit of {limit} bytes")]
    Record { record: u64, limit: u64 },
}

/// Enforces the [`Limits`] on the decoded stream.
struct Capped<R> {
    inner: R,
    meter: Meter,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let limits = self.meter.limits;
        let total = self.meter.total.get();
        if total > limits.max_decompressed_bytes {
            return Err(io::Error::other(LimitExceeded::Total(
                limits.max_decompressed_bytes,
            )));
        }
        // Never read more than one byte past the limit, so a bomb stops right there.
        let room = limits.max_decompressed_bytes - total + 1;
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        let total = total + n as u64;
        self.meter.total.set(total);
        if total > limits.max_decompressed_bytes {
            return Err(io::Error::other(LimitExceeded::Total(
                limits.max_decompressed_bytes,
            )));
        }
        if let Some((record, started)) = self.meter.record.get()
            && total - started > limits.max_record_bytes
        {
            return Err(io::Error::other(LimitExceeded::Record {
                record,
                limit: limits.max_record_bytes,
            }));
        }
        Ok(n)
    }
}

/// Parses the decoded delivery document from `reader`.
fn parse_records<R: BufRead, F: FnMut(&RawValue)>(
    reader: R,
    meter: &Meter,
    mut on_record: F,
) -> Result<u64, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let count = de::Deserializer::deserialize_map(
        &mut de,
        LogVisitor {
            on_record: &mut on_record,
            meter,
        },
    )?;
    de.end()?;
    Ok(count)
}

/// Separates I/O and decompression failures (the stream broke) from format errors (the bytes
/// are not what we expect), and limits from both.
fn classify(source: serde_json::Error, gzip: bool) -> ParseError {
    if source.is_io() {
        return read_failure(io::Error::from(source), gzip);
    }
    ParseError::Format {
        gzip,
        cause: source,
    }
}

/// A failed read: a passed limit when the error is one of ours, the stream's failure otherwise.
fn read_failure(cause: io::Error, gzip: bool) -> ParseError {
    match cause
        .get_ref()
        .and_then(|e| e.downcast_ref::<LimitExceeded>())
    {
        Some(LimitExceeded::Total(limit)) => ParseError::TooLarge { limit: *limit },
        Some(LimitExceeded::Record { record, limit }) => ParseError::RecordTooLarge {
            record: *record,
            limit: *limit,
        },
        None => ParseError::Read { gzip, cause },
    }
}

/// Visits the top-level object, looking for `Records`.
struct LogVisitor<'f, F> {
    on_record: &'f mut F,
    meter: &'f Meter,
}

impl<'de, F: FnMut(&RawValue)> Visitor<'de> for LogVisitor<'_, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a CloudTrail delivery object {"Records":[...]}"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut records = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'_, str>>()? {
            if key == "Records" {
                if records.is_some() {
                    return Err(de::Error::duplicate_field("Records"));
                }
                records = Some(map.next_value_seed(RecordsSeed {
                    on_record: &mut *self.on_record,
                    meter: self.meter,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        records.ok_or_else(|| de::Error::missing_field("Records"))
    }
}

/// Streams the `Records` array, one record at a time.
struct RecordsSeed<'f, F> {
    on_record: &'f mut F,
    meter: &'f Meter,
}

impl<'de, F: FnMut(&RawValue)> DeserializeSeed<'de> for RecordsSeed<'_, F> {
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(&RawValue)> Visitor<'de> for RecordsSeed<'_, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut count = 0;
        self.meter.record_starts(1);
        while let Some(record) = seq.next_element::<Box<RawValue>>()? {
            self.meter.records_end();
            (self.on_record)(&record);
            count += 1;
            self.meter.record_starts(count + 1);
        }
        self.meter.records_end();
        Ok(count)
    }
}

/// Reads every top-level JSON value of `reader` (JSON lines, concatenated documents or one
/// document) and hands the records each one holds to `on_record`.
fn parse_any<R: BufRead, F: FnMut(&RawValue)>(
    mut reader: R,
    meter: &Meter,
    mut on_record: F,
) -> Result<u64, serde_json::Error> {
    let mut count = 0;
    let mut values = 0;
    loop {
        // Skip the whitespace between values, and stop cleanly at the end.
        let first = loop {
            let buf = reader.fill_buf().map_err(serde_json::Error::io)?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(at) => {
                    let byte = buf[at];
                    reader.consume(at);
                    break Some(byte);
                }
                None if buf.is_empty() => break None,
                None => {
                    let n = buf.len();
                    reader.consume(n);
                }
            }
        };
        let Some(first) = first else { break };
        values += 1;
        // A fresh deserializer per value: it reads the value's bytes and nothing after its
        // closing bracket, so the next value starts where this one ended.
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        count += match first {
            b'[' => de::Deserializer::deserialize_seq(
                &mut de,
                ElementsSeed {
                    on_record: &mut on_record,
                    meter,
                },
            )?,
            b'{' => {
                // A top-level object is one record unless it holds `Records` or `Events`.
                meter.record_starts(count + 1);
                let n = de::Deserializer::deserialize_map(
                    &mut de,
                    AnyDocument {
                        on_record: &mut on_record,
                        meter,
                    },
                )?;
                meter.records_end();
                n
            }
            _ => {
                return Err(de::Error::invalid_type(
                    de::Unexpected::Other("a value that is not an object or an array"),
                    &"CloudTrail records",
                ));
            }
        };
    }
    if values == 0 {
        return Err(de::Error::invalid_length(0, &"at least one JSON document"));
    }
    Ok(count)
}

/// The records one value stands for: an EventBridge envelope's `detail`, a `lookup-events`
/// entry's `CloudTrailEvent` text, or the value itself (a record).
fn hand_over<F: FnMut(&RawValue)>(value: &RawValue, on_record: &mut F) -> u64 {
    #[derive(serde::Deserialize)]
    struct Wrapper<'a> {
        #[serde(rename = "detail-type", default)]
        detail_type: Option<IgnoredAny>,
        #[serde(borrow, default)]
        detail: Option<&'a RawValue>,
        #[serde(rename = "CloudTrailEvent", borrow, default)]
        cloudtrail_event: Option<std::borrow::Cow<'a, str>>,
    }
    if let Ok(w) = serde_json::from_str::<Wrapper<'_>>(value.get()) {
        if let (Some(_), Some(detail)) = (w.detail_type, w.detail) {
            on_record(detail);
            return 1;
        }
        if let Some(text) = w.cloudtrail_event
            && let Ok(record) = serde_json::from_str::<Box<RawValue>>(&text)
        {
            on_record(&record);
            return 1;
        }
    }
    on_record(value);
    1
}

/// A top-level object of any shape: a delivery document (its `Records` streamed), a
/// `lookup-events` page (its `Events` streamed), or one record or envelope, rebuilt from its
/// members once they have all been read.
struct AnyDocument<'f, F> {
    on_record: &'f mut F,
    meter: &'f Meter,
}

impl<'de, F: FnMut(&RawValue)> Visitor<'de> for AnyDocument<'_, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CloudTrail record or a document holding records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut streamed: Option<u64> = None;
        let mut members: Vec<(String, Box<RawValue>)> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'_, str>>()? {
            if (key == "Records" || key == "Events") && streamed.is_none() {
                self.meter.records_end();
                streamed = Some(map.next_value_seed(ElementsSeed {
                    on_record: &mut *self.on_record,
                    meter: self.meter,
                })?);
            } else {
                let value = map.next_value::<Box<RawValue>>()?;
                members.push((key.into_owned(), value));
            }
        }
        if let Some(count) = streamed {
            return Ok(count);
        }
        let mut text = String::from("{");
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::to_string(key).map_err(de::Error::custom)?);
            text.push(':');
            text.push_str(value.get());
        }
        text.push('}');
        let record = RawValue::from_string(text).map_err(de::Error::custom)?;
        Ok(hand_over(&record, self.on_record))
    }
}

/// Streams an array whose elements are records (or envelopes of records).
struct ElementsSeed<'f, F> {
    on_record: &'f mut F,
    meter: &'f Meter,
}

impl<'de, F: FnMut(&RawValue)> DeserializeSeed<'de> for ElementsSeed<'_, F> {
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(&RawValue)> Visitor<'de> for ElementsSeed<'_, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut count = 0;
        let mut elements = 0;
        self.meter.record_starts(1);
        while let Some(element) = seq.next_element::<Box<RawValue>>()? {
            self.meter.records_end();
            count += hand_over(&element, self.on_record);
            elements += 1;
            self.meter.record_starts(elements + 1);
        }
        self.meter.records_end();
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).expect("write to Vec");
        enc.finish().expect("finish gzip")
    }

    fn collect(input: Vec<u8>) -> Result<(ParseStats, Vec<String>), ParseError> {
        let mut seen = Vec::new();
        let len = input.len() as u64;
        let stats = for_each_record(io::Cursor::new(input), |r| seen.push(r.get().to_owned()))?;
        assert_eq!(stats.bytes, len, "the whole input is read");
        Ok((stats, seen))
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
                bytes: DOC.len() as u64
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
        let err = for_each_record(io::Cursor::new(gz), |_| seen += 1).expect_err("truncated");
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

    fn collect_any(input: &[u8]) -> Result<Vec<String>, ParseError> {
        let mut seen = Vec::new();
        let stats = read_records(input, Format::Any, |r| seen.push(r.get().to_owned()))?;
        assert_eq!(stats.records, seen.len() as u64);
        Ok(seen)
    }

    #[test]
    fn any_format_takes_the_shapes_people_have_on_disk() {
        let a = r#"{"eventName":"A","eventID":"1"}"#;
        let b = r#"{"eventName":"B","eventID":"2"}"#;
        let cases: Vec<(&str, String)> = vec![
            ("delivery", format!(r#"{{"Records":[{a},{b}]}}"#)),
            (
                "delivery, Records last",
                format!(r#"{{"x":{{"y":[1]}},"Records":[{a},{b}]}}"#),
            ),
            ("bare array", format!("[{a},\n{b}]")),
            ("JSON lines", format!("{a}\n{b}\n")),
            (
                "JSON lines, CRLF and blank lines",
                format!("\r\n{a}\r\n\r\n{b}\r\n"),
            ),
            ("concatenated", format!("{a}{b}")),
            (
                "two delivery documents",
                format!(r#"{{"Records":[{a}]}} {{"Records":[{b}]}}"#),
            ),
            (
                "EventBridge envelopes",
                format!(
                    r#"{{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.autoscaling","detail":{a}}}{{"detail-type":"AWS API Call via CloudTrail","detail":{b}}}"#
                ),
            ),
            (
                "lookup-events",
                format!(
                    r#"{{"Events":[{{"EventId":"1","CloudTrailEvent":{}}},{{"EventId":"2","CloudTrailEvent":{}}}],"NextToken":"t"}}"#,
                    serde_json::to_string(a).expect("json"),
                    serde_json::to_string(b).expect("json")
                ),
            ),
            (
                "array of envelopes",
                format!(r#"[{{"detail-type":"x","detail":{a}}},{b}]"#),
            ),
        ];
        for (what, text) in cases {
            let seen = collect_any(text.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(seen, [a, b], "{what}");
            let seen =
                collect_any(&gzip(text.as_bytes())).unwrap_or_else(|e| panic!("{what} (gz): {e}"));
            assert_eq!(seen, [a, b], "{what} (gzip)");
        }
    }

    #[test]
    fn a_single_record_is_handed_over_whole() {
        let one = r#"{ "eventName" : "A", "n": [1, {"x": null}], "s": "a\"b" }"#;
        let seen = collect_any(one.as_bytes()).expect("parses");
        assert_eq!(seen.len(), 1);
        let back: serde_json::Value = serde_json::from_str(&seen[0]).expect("json");
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(one).expect("json")
        );
    }

    #[test]
    fn any_format_still_rejects_what_is_not_json_records() {
        for bad in [
            &b"   \n "[..],
            b"not json",
            b"42",
            br#""text""#,
            br#"{"a":1} trailing"#,
            br#"[{"a":1}"#,
        ] {
            let err = collect_any(bad).expect_err("must fail");
            assert!(
                matches!(err, ParseError::Format { .. } | ParseError::Read { .. }),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(collect_any(b""), Err(ParseError::Empty)));
        // The strict reader the Lambda uses does not take these shapes.
        assert!(for_each_record(&br#"[{"a":1}]"#[..], |_| {}).is_err());
        assert!(for_each_record(&br#"{"a":1}"#[..], |_| {}).is_err());
    }

    #[test]
    fn the_scanner_and_the_general_parser_see_the_same_records() {
        let mut log = Vec::new();
        let options = crate::synth::SynthOptions {
            seed: 11,
            target_bytes: 3_000_000,
            autoscaling_share: 0.05,
        };
        crate::synth::write_log(&mut log, &options).expect("generates");
        // Spread whitespace around the structure, as a pretty-printer would.
        let spaced = String::from_utf8(log.clone())
            .expect("utf8")
            .replace("},{", "} ,\n\t{");
        for doc in [
            log,
            spaced.into_bytes(),
            gzip(b"{\"Records\":[{\"a\":1},2,\"x\",[3]]}"),
        ] {
            let collect = |format| {
                let mut seen = Vec::new();
                let stats = read_selected(
                    &doc[..],
                    format,
                    &Limits::default(),
                    |_| true,
                    |r| seen.push(r.to_vec()),
                )
                .expect("reads");
                (stats.records, seen)
            };
            let (fast, fast_records) = collect(Format::Delivery);
            let (general, general_records) = collect(Format::Any);
            assert_eq!(fast, general);
            assert_eq!(fast as usize, fast_records.len());
            assert!(fast_records == general_records, "the two paths disagree");
        }
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
        let err = read_records_with(gz.as_slice(), Format::Delivery, &limits, |_| seen += 1)
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
        let stats =
            read_records_with(whole.as_slice(), Format::Delivery, &limits, |_| {}).expect("fits");
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
            let err =
                read_records_with(doc.as_slice(), format, &limits, |_| {}).expect_err("too large");
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
            },
        )
        .expect("reads");
        assert_eq!(stats.records, 4);
        assert_eq!(seen, [r#"{"n":2}"#, r#"{"n":4}"#]);
    }

    #[test]
    fn a_large_file_streams_through_the_decoder_thread_in_order() {
        let mut log = Vec::new();
        let options = crate::synth::SynthOptions {
            seed: 5,
            target_bytes: 8_000_000,
            autoscaling_share: 0.0,
        };
        let made = crate::synth::write_log(&mut log, &options).expect("generates");
        let gz = gzip(&log);
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
            },
        )
        .expect("reads");
        assert_eq!(stats.records, made.records);
        assert_eq!(stats.bytes, gz.len() as u64);
        assert!(in_order, "records arrive in file order");
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
            let err = read_records_with(gzip(doc.as_bytes()).as_slice(), format, &limits, |r| {
                seen.push(r.get().len());
            })
            .expect_err("too large");
            assert!(
                matches!(err, ParseError::RecordTooLarge { record: 2, limit } if limit == 256 << 10),
                "{err}"
            );
            assert_eq!(seen, [small.len()]);
        }
        // Members around Records are not records: they are skipped whatever their size.
        let doc = format!(r#"{{"digest":{big},"Records":[{small}]}}"#);
        let stats = read_records_with(doc.as_bytes(), Format::Delivery, &limits, |_| {})
            .expect("a big member that is not a record is fine");
        assert_eq!(stats.records, 1);
    }

    #[test]
    fn nesting_thousands_of_levels_deep_costs_no_stack() {
        let depth = 200_000;
        let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let doc = format!(r#"{{"x":{deep},"Records":[{deep},{{"a":{deep}}}]}}"#);
        let mut seen = Vec::new();
        let stats = for_each_record(doc.as_bytes(), |r| seen.push(r.get().len())).expect("parses");
        assert_eq!(stats.records, 2);
        assert_eq!(seen, [deep.len(), deep.len() + 6]);
    }
}
