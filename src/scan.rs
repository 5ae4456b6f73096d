//! A fast structural scanner for CloudTrail's delivery format `{"Records":[...]}`.
//!
//! It splits the decoded byte stream into the raw text of each record without parsing the
//! records: it only tracks strings, escapes and bracket depth, jumping through string contents
//! with `memchr`. The caller decides, on the raw bytes, which records deserve a real parse
//! (for asg-trail: those that can be Auto Scaling records, about 1% of a busy account's log),
//! so the other 99% cost little more than the gunzip that produced them.
//!
//! The scanner checks the document's structure (balanced brackets, terminated strings, commas
//! between records, nothing after the top-level object) but not the inside of the records it
//! is not asked to look at. Documents that do not start with `{"Records":[` (whitespace
//! allowed) are not its business: it says so, and hands back the bytes it consumed, so the
//! caller can fall back to a general parser.

use std::fmt;
use std::ops::ControlFlow;

/// Why the scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The document does not start with `{"Records":[`: use a general parser.
    NotDelivery,
    /// A record is larger than the scanner's record limit.
    RecordTooLarge {
        /// The record's position in the file, from 1.
        record: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The document is broken at this offset of the decoded stream.
    Syntax {
        /// Offset in the decoded stream.
        offset: u64,
        /// What was wrong.
        message: String,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDelivery => f.write_str(r#"the document does not start with {"Records":["#),
            Self::RecordTooLarge { record, limit } => {
                write!(f, "record {record} is larger than {limit} bytes")
            }
            Self::Syntax { offset, message } => write!(f, "{message} at byte {offset}"),
        }
    }
}

impl std::error::Error for ScanError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Matching `{"Records":[` (token by token, whitespace allowed).
    Prefix(u8),
    /// Between records: a record, a comma or the closing `]` is expected.
    Between { after_value: bool },
    /// Inside a record.
    Record,
    /// After `]`: `}` or `,` (more members) is expected.
    AfterArray,
    /// After `]` and `,`: the rest of the top-level object, kept whole and checked at the end.
    Tail,
    /// After the closing `}`: only whitespace may follow.
    Done,
}

/// What a phase of the scan leads to.
enum Step {
    /// Go on with the next phase.
    Next,
    /// The buffer is used up: feed more.
    NeedMore,
    /// The caller said stop after the record just handed over.
    Stop,
}

/// The scanner's state; feed it with [`RecordScanner::push`], end with
/// [`RecordScanner::finish`].
#[derive(Debug)]
pub struct RecordScanner {
    buf: Vec<u8>,
    /// Offset in the stream of `buf[0]`.
    base: u64,
    /// Next byte of `buf` to look at.
    pos: usize,
    /// Start of the record being scanned, in `buf`.
    start: usize,
    phase: Phase,
    depth: u32,
    in_string: bool,
    /// The record is a bare scalar (not an object, array or string).
    scalar: bool,
    records: u64,
    /// Accept several documents one after the other (`{"Records":[..]}{"Records":[..]}`).
    concatenated: bool,
    /// The largest record accepted, in bytes (also the bound of the members after `Records`).
    max_record: u64,
}

const PREFIX: [&[u8]; 4] = [b"{", b"\"Records\"", b":", b"["];

impl RecordScanner {
    /// A scanner at the start of a document that refuses records larger than `max_record_bytes`
    /// (the configured [`crate::cloudtrail::Limits::max_record_bytes`]).
    #[must_use]
    pub fn new(max_record_bytes: u64) -> Self {
        Self {
            buf: Vec::with_capacity(256 * 1024),
            base: 0,
            pos: 0,
            start: 0,
            phase: Phase::Prefix(0),
            depth: 0,
            in_string: false,
            scalar: false,
            records: 0,
            concatenated: false,
            max_record: max_record_bytes,
        }
    }

    /// A scanner ([`RecordScanner::new`]) that also accepts more delivery documents after the
    /// first one.
    #[must_use]
    pub fn concatenated(max_record_bytes: u64) -> Self {
        Self {
            concatenated: true,
            ..Self::new(max_record_bytes)
        }
    }

    /// Records seen so far.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Whether the `{"Records":[` prefix has been matched (the fast path applies).
    #[must_use]
    pub fn in_records(&self) -> bool {
        !matches!(self.phase, Phase::Prefix(_))
    }

    /// The bytes fed so far, when the scan stopped with [`ScanError::NotDelivery`] (nothing
    /// has been consumed then: the whole stream so far is in here).
    #[must_use]
    pub fn into_consumed(self) -> Vec<u8> {
        self.buf
    }

    /// Scans `chunk`, calling `on_record` with the raw text of every record it completes. When
    /// `on_record` returns [`ControlFlow::Break`], the scan stops right after that record and
    /// `push` returns `Break` (the rest of `chunk` is left unscanned).
    ///
    /// # Errors
    /// [`ScanError::NotDelivery`] when the document is not a delivery file (the bytes fed so
    /// far are then in [`RecordScanner::into_consumed`]), [`ScanError::Syntax`] when it is
    /// broken.
    pub fn push(
        &mut self,
        chunk: &[u8],
        on_record: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, ScanError> {
        self.compact();
        self.buf.extend_from_slice(chunk);
        self.scan(on_record)
    }

    /// Ends the scan: the document must be complete.
    ///
    /// # Errors
    /// [`ScanError::Syntax`] when the document stops early or has a broken tail,
    /// [`ScanError::NotDelivery`] when it was too short to tell.
    pub fn finish(&mut self) -> Result<u64, ScanError> {
        match self.phase {
            Phase::Done => Ok(self.records),
            Phase::Tail => {
                // `{` + the members after Records must form a valid object.
                let mut tail = Vec::with_capacity(self.buf.len() - self.start + 1);
                tail.push(b'{');
                tail.extend_from_slice(&self.buf[self.start..]);
                let members: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
                    serde_json::from_slice(&tail).map_err(|e| {
                        self.error(
                            self.start,
                            &format!("invalid members after \"Records\": {e}"),
                        )
                    })?;
                if members.contains_key("Records") {
                    return Err(self.error(self.start, "duplicate field `Records`"));
                }
                Ok(self.records)
            }
            Phase::Prefix(_) if self.buf.iter().all(u8::is_ascii_whitespace) => {
                Err(self.error(self.pos, "the document is empty"))
            }
            Phase::Prefix(_) => Err(ScanError::NotDelivery),
            _ => {
                self.pos = self.buf.len();
                Err(self.error(self.pos, "unexpected end of file inside the Records array"))
            }
        }
    }

    /// Drops the bytes no longer needed: everything before the record in progress.
    fn compact(&mut self) {
        let keep_from = match self.phase {
            Phase::Prefix(_) => 0,
            Phase::Record | Phase::Tail => self.start,
            _ => self.pos,
        };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.pos -= keep_from;
            self.start -= keep_from.min(self.start);
        }
    }

    fn error(&self, at: usize, message: &str) -> ScanError {
        ScanError::Syntax {
            offset: self.base + at as u64,
            message: message.to_owned(),
        }
    }

    fn scan(
        &mut self,
        on_record: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, ScanError> {
        loop {
            let step = match self.phase {
                Phase::Prefix(token) => self.prefix(token)?,
                Phase::Between { after_value } => self.between(after_value)?,
                Phase::Record => self.record(on_record)?,
                Phase::AfterArray => self.after_array()?,
                Phase::Tail => self.tail()?,
                Phase::Done => self.done()?,
            };
            match step {
                Step::Next => {}
                Step::NeedMore => return Ok(ControlFlow::Continue(())),
                Step::Stop => return Ok(ControlFlow::Break(())),
            }
        }
    }

    /// Matches the next token of `{"Records":[`.
    fn prefix(&mut self, token: u8) -> Result<Step, ScanError> {
        let Some(i) = self.skip_whitespace() else {
            return Ok(Step::NeedMore);
        };
        let want = PREFIX[usize::from(token)];
        let have = &self.buf[i..];
        if have.len() < want.len() {
            if want.starts_with(have) {
                return Ok(Step::NeedMore);
            }
            return Err(ScanError::NotDelivery);
        }
        if !have.starts_with(want) {
            return Err(ScanError::NotDelivery);
        }
        self.pos = i + want.len();
        self.phase = if usize::from(token) + 1 == PREFIX.len() {
            Phase::Between { after_value: false }
        } else {
            Phase::Prefix(token + 1)
        };
        Ok(Step::Next)
    }

    /// Between records: a record starts, a comma, or the array's closing `]`.
    fn between(&mut self, after_value: bool) -> Result<Step, ScanError> {
        let Some(i) = self.skip_whitespace() else {
            return Ok(Step::NeedMore);
        };
        match (self.buf[i], after_value) {
            (b']', _) => {
                if !after_value && self.records > 0 {
                    return Err(self.error(i, "a comma before ']'"));
                }
                self.pos = i + 1;
                self.phase = Phase::AfterArray;
            }
            (b',', true) => {
                self.pos = i + 1;
                self.phase = Phase::Between { after_value: false };
            }
            (_, true) => return Err(self.error(i, "expected ',' or ']' after a record")),
            (b',', false) => return Err(self.error(i, "expected a record, found ','")),
            (first, false) => {
                self.start = i;
                self.pos = i;
                self.depth = 0;
                self.in_string = false;
                self.scalar = !matches!(first, b'{' | b'[' | b'"');
                self.phase = Phase::Record;
            }
        }
        Ok(Step::Next)
    }

    /// Continues the record in progress; hands it over once complete.
    fn record(
        &mut self,
        on_record: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<Step, ScanError> {
        let end = self.record_end()?;
        let len = end.unwrap_or(self.buf.len()) - self.start;
        if len as u64 > self.max_record {
            return Err(ScanError::RecordTooLarge {
                record: self.records + 1,
                limit: self.max_record,
            });
        }
        let Some(end) = end else {
            return Ok(Step::NeedMore);
        };
        let flow = on_record(&self.buf[self.start..end]);
        self.records += 1;
        self.pos = end;
        self.phase = Phase::Between { after_value: true };
        Ok(match flow {
            ControlFlow::Continue(()) => Step::Next,
            ControlFlow::Break(()) => Step::Stop,
        })
    }

    /// After the array's `]`: the object closes, or more members follow.
    fn after_array(&mut self) -> Result<Step, ScanError> {
        let Some(i) = self.skip_whitespace() else {
            return Ok(Step::NeedMore);
        };
        match self.buf[i] {
            b'}' => {
                self.pos = i + 1;
                self.phase = Phase::Done;
            }
            b',' => {
                self.pos = i + 1;
                self.start = i + 1;
                self.phase = Phase::Tail;
            }
            _ => return Err(self.error(i, "expected '}' or ',' after the Records array")),
        }
        Ok(Step::Next)
    }

    /// The members after `Records` are kept whole (within the record limit) until the end.
    fn tail(&mut self) -> Result<Step, ScanError> {
        if (self.buf.len() - self.start) as u64 > self.max_record {
            return Err(self.error(self.start, "members after \"Records\" are too large"));
        }
        self.pos = self.buf.len();
        Ok(Step::NeedMore)
    }

    /// After the document: only whitespace, or (when concatenated) the next document.
    fn done(&mut self) -> Result<Step, ScanError> {
        match self.skip_whitespace() {
            None => Ok(Step::NeedMore),
            Some(i) if self.concatenated => {
                self.buf.drain(..i);
                self.base += i as u64;
                self.pos = 0;
                self.start = 0;
                self.phase = Phase::Prefix(0);
                Ok(Step::Next)
            }
            Some(i) => Err(self.error(i, "trailing characters after the document")),
        }
    }

    /// Moves `pos` past whitespace; the index of the next byte, if there is one yet.
    fn skip_whitespace(&mut self) -> Option<usize> {
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(k) => {
                self.pos += k;
                Some(self.pos)
            }
            None => {
                self.pos = self.buf.len();
                None
            }
        }
    }

    /// Continues the record from `pos`; the end offset (exclusive) once it is complete.
    fn record_end(&mut self) -> Result<Option<usize>, ScanError> {
        let buf = &self.buf;
        let mut i = self.pos;
        if self.scalar {
            while i < buf.len() {
                if matches!(buf[i], b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t') {
                    self.pos = i;
                    return Ok(Some(i));
                }
                i += 1;
            }
            self.pos = i;
            return Ok(None);
        }
        while i < buf.len() {
            if self.in_string {
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    Some(k) => {
                        i += k;
                        if buf[i] == b'\\' {
                            if i + 1 >= buf.len() {
                                // The escaped byte is in the next chunk: resume at the backslash.
                                self.pos = i;
                                return Ok(None);
                            }
                            i += 2;
                        } else {
                            self.in_string = false;
                            i += 1;
                            if self.depth == 0 {
                                self.pos = i;
                                return Ok(Some(i));
                            }
                        }
                    }
                    None => {
                        i = buf.len();
                    }
                }
                continue;
            }
            match buf[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Err(self.error(i, "unbalanced closing bracket"));
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.pos = i + 1;
                        return Ok(Some(i + 1));
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.pos = i;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 32 << 20;

    /// A record callback that goes on.
    fn go() -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    /// Scans `doc` fed in chunks of `size` bytes; the records, or the error.
    fn scan(doc: &[u8], size: usize) -> Result<Vec<String>, ScanError> {
        scan_within(doc, size, LIMIT)
    }

    /// [`scan`] with a record limit of `limit` bytes.
    fn scan_within(doc: &[u8], size: usize, limit: u64) -> Result<Vec<String>, ScanError> {
        let mut scanner = RecordScanner::new(limit);
        let mut seen = Vec::new();
        for chunk in doc.chunks(size.max(1)) {
            let flow = scanner.push(chunk, &mut |r| {
                seen.push(String::from_utf8_lossy(r).into_owned());
                go()
            })?;
            assert_eq!(flow, go());
        }
        let n = scanner.finish()?;
        assert_eq!(n, seen.len() as u64);
        Ok(seen)
    }

    const DOC: &str = r#" { "Records" : [ {"a":"x}]\"{","b":[1,{"c":null}]} , {"eventSource":"s3"},"str\"ing",17,[1,[2]] ] , "other" : {"k":[1]} }  "#;

    #[test]
    fn splits_records_whatever_the_chunking() {
        let want = [
            r#"{"a":"x}]\"{","b":[1,{"c":null}]}"#,
            r#"{"eventSource":"s3"}"#,
            r#""str\"ing""#,
            "17",
            "[1,[2]]",
        ];
        for size in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(
                scan(DOC.as_bytes(), size).expect("valid"),
                want,
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn concatenated_documents_when_asked() {
        let doc = br#"{"Records":[{"a":1}]} {"Records":[{"b":2},{"c":3}]}"#;
        let mut scanner = RecordScanner::concatenated(LIMIT);
        let mut n = 0;
        for chunk in doc.chunks(3) {
            let flow = scanner.push(chunk, &mut |_| {
                n += 1;
                go()
            });
            assert_eq!(flow, Ok(go()));
        }
        assert_eq!((scanner.finish(), n), (Ok(3), 3));
        assert!(matches!(scan(doc, 3), Err(ScanError::Syntax { .. })));
    }

    #[test]
    fn the_canonical_delivery_form() {
        let doc = br#"{"Records":[{"eventVersion":"1.08"},{"eventVersion":"1.09"}]}"#;
        assert_eq!(scan(doc, 10).expect("valid").len(), 2);
        assert_eq!(
            scan(br#"{"Records":[]}"#, 3).expect("valid"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn other_documents_are_handed_back() {
        for doc in [
            &br#"{"Other":1,"Records":[]}"#[..],
            b"[{\"a\":1}]",
            b"{}",
            b"{\"Rec",
        ] {
            let mut scanner = RecordScanner::new(LIMIT);
            let result = scanner.push(doc, &mut |_| go());
            let result = result.and_then(|_| scanner.finish().map(|_| ()));
            assert_eq!(
                result,
                Err(ScanError::NotDelivery),
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
        let mut scanner = RecordScanner::new(LIMIT);
        assert_eq!(
            scanner.push(b"[1]", &mut |_| go()),
            Err(ScanError::NotDelivery)
        );
        assert_eq!(scanner.into_consumed(), b"[1]");
    }

    #[test]
    fn broken_documents_are_syntax_errors_with_an_offset() {
        let cases: [(&[u8], &str); 8] = [
            (br#"{"Records":[{"a":1}"#, "unexpected end of file"),
            (
                br#"{"Records":[{"a":"unterminated}]}"#,
                "unexpected end of file",
            ),
            (br#"{"Records":[{"a":1}{"b":2}]}"#, "expected ',' or ']'"),
            (br#"{"Records":[{"a":1},]}"#, "a comma before ']'"),
            (br#"{"Records":[,{"a":1}]}"#, "expected a record"),
            (br#"{"Records":[{"a":1}]} x"#, "trailing characters"),
            (br#"{"Records":[{"a":1}]]"#, "expected '}' or ','"),
            (br#"{"Records":[{"a":1}],"x":}"#, "invalid members"),
        ];
        for (doc, want) in cases {
            for size in [1, 4, 1000] {
                match scan(doc, size) {
                    Err(ScanError::Syntax { message, .. }) => {
                        assert!(
                            message.contains(want),
                            "{}: {message}",
                            String::from_utf8_lossy(doc)
                        );
                    }
                    other => panic!("{}: {other:?}", String::from_utf8_lossy(doc)),
                }
            }
        }
        assert!(matches!(scan(b"   ", 2), Err(ScanError::Syntax { .. })));
    }

    #[test]
    fn escapes_split_across_chunks() {
        let doc = br#"{"Records":[{"a":"\\"},{"b":"\""}]}"#;
        for size in 1..doc.len() {
            assert_eq!(
                scan(doc, size).expect("valid"),
                [r#"{"a":"\\"}"#, r#"{"b":"\""}"#],
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn memory_holds_one_record_not_the_file() {
        let mut scanner = RecordScanner::new(LIMIT);
        assert_eq!(scanner.push(br#"{"Records":["#, &mut |_| go()), Ok(go()));
        let record = format!(r#"{{"pad":"{}"}},"#, "x".repeat(1000));
        let mut n = 0;
        for _ in 0..10_000 {
            let flow = scanner.push(record.as_bytes(), &mut |_| {
                n += 1;
                go()
            });
            assert_eq!(flow, Ok(go()));
            assert!(
                scanner.buf.len() < 4 * record.len(),
                "{}",
                scanner.buf.len()
            );
        }
        assert_eq!(n, 10_000);
    }

    #[test]
    fn a_break_stops_the_scan_right_after_that_record() {
        let doc = br#"{"Records":[{"a":1},{"b":2},{"c":3}]}"#;
        let mut scanner = RecordScanner::new(LIMIT);
        let mut seen = Vec::new();
        let flow = scanner
            .push(doc, &mut |r| {
                seen.push(r.to_vec());
                if seen.len() == 2 {
                    ControlFlow::Break(())
                } else {
                    go()
                }
            })
            .expect("valid");
        assert_eq!(flow, ControlFlow::Break(()));
        assert_eq!(seen, [br#"{"a":1}"#.to_vec(), br#"{"b":2}"#.to_vec()]);
        assert_eq!(scanner.records(), 2);
    }

    #[test]
    fn the_configured_record_limit_bounds_records_and_the_members_after_them() {
        let limit = 64;
        let pad = "x".repeat(100);
        let record = format!(r#"{{"Records":[{{"a":1}},{{"a":"{pad}"}}]}}"#);
        let tail = format!(r#"{{"Records":[{{"a":1}}],"x":"{pad}"}}"#);
        for size in [1, 7, 1000] {
            assert_eq!(
                scan_within(record.as_bytes(), size, limit),
                Err(ScanError::RecordTooLarge { record: 2, limit }),
                "chunks of {size}"
            );
            match scan_within(tail.as_bytes(), size, limit) {
                Err(ScanError::Syntax { message, .. }) => {
                    assert!(message.contains("too large"), "{message}");
                }
                other => panic!("chunks of {size}: {other:?}"),
            }
            // Both fit the default limit.
            assert_eq!(scan(record.as_bytes(), size).map(|r| r.len()), Ok(2));
            assert_eq!(scan(tail.as_bytes(), size).map(|r| r.len()), Ok(1));
        }
    }
}
