//! An object body that can be cut off: once its token is cancelled, every read fails at once,
//! even one that is waiting for bytes that never come (a stalled connection). The parsing
//! thread then stops instead of reading on after the invocation has answered.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// `inner`, until `token` is cancelled.
pub(super) struct Cuttable<R> {
    inner: R,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<R> Cuttable<R> {
    /// Reads from `inner` until `token` is cancelled.
    pub(super) fn new(inner: R, token: &CancellationToken) -> Self {
        Self {
            inner,
            cut: Box::pin(token.clone().cancelled_owned()),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Cuttable<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Not `Interrupted`: readers retry that kind.
        if self.cut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "reading was stopped: the object is no longer needed",
            )));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_read_waiting_for_bytes_fails_when_cut() {
        // A body that never sends a byte.
        let (_writer, stalled) = tokio::io::duplex(64);
        let token = CancellationToken::new();
        let mut body = Cuttable::new(stalled, &token);
        let reading = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            body.read(&mut buf).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!reading.is_finished(), "waits for bytes");
        token.cancel();
        let err = reading.await.expect("task").expect_err("cut");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn bytes_pass_through_until_cut() {
        let token = CancellationToken::new();
        let mut body = Cuttable::new(&b"abc"[..], &token);
        let mut text = String::new();
        body.read_to_string(&mut text).await.expect("read");
        assert_eq!(text, "abc");
        token.cancel();
        let mut buf = [0u8; 1];
        assert!(body.read(&mut buf).await.is_err());
    }
}
