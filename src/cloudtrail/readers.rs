//! The reader wrappers of the log reader: the byte counts and the [`Limits`] against
//! decompression bombs and absurd records, and the chunked reads of the decoder thread.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use super::{Limits, ParseError};

/// Stops a decoded stream one byte past [`Limits::max_decompressed_bytes`] (a decompression
/// bomb): the fast path's own counter, owned by the decoder thread.
pub(super) struct TotalCap<R> {
    pub(super) inner: R,
    limit: u64,
    total: u64,
}

impl<R> TotalCap<R> {
    pub(super) fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            limit,
            total: 0,
        }
    }
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
pub(super) struct Chunker<R> {
    pub(super) reader: R,
    pending: Option<io::Error>,
}

impl<R: Read> Chunker<R> {
    pub(super) fn new(reader: R) -> Self {
        Self {
            reader,
            pending: None,
        }
    }

    /// Fills up to half of `buf` or more; 0 only at the end of the stream.
    pub(super) fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
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
pub(super) struct Counted<R> {
    inner: R,
    /// Bytes read so far.
    pub(super) bytes: u64,
}

impl<R> Counted<R> {
    pub(super) fn new(inner: R) -> Self {
        Self { inner, bytes: 0 }
    }
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
pub(super) struct Meter {
    limits: Limits,
    /// Decoded bytes read so far.
    total: Rc<Cell<u64>>,
    /// `(position of the record in the file, decoded bytes when it started)` while a record is
    /// being read.
    record: Rc<Cell<Option<(u64, u64)>>>,
}

impl Meter {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            limits: *limits,
            total: Rc::new(Cell::new(0)),
            record: Rc::new(Cell::new(None)),
        }
    }

    /// Record number `n` (from 1) starts here. The count includes the reader's read-ahead (at
    /// most one buffer), which is precise enough for a limit.
    pub(super) fn record_starts(&self, n: u64) {
        self.record.set(Some((n, self.total.get())));
    }

    /// No record is being read (between records, or the array ended).
    pub(super) fn records_end(&self) {
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
pub(super) struct Capped<R> {
    inner: R,
    meter: Meter,
}

impl<R> Capped<R> {
    pub(super) fn new(inner: R, meter: Meter) -> Self {
        Self { inner, meter }
    }
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

/// A failed read: a passed limit when the error is one of ours, the stream's failure otherwise.
pub(super) fn read_failure(cause: io::Error, gzip: bool) -> ParseError {
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
