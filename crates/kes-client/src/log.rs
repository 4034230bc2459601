//! The audit and error log streams (`GET /v1/log/audit`, `GET /v1/log/error`) as async
//! [`Stream`]s of decoded NDJSON events.
//!
//! A stream ends when the server closes the connection; dropping it disconnects. Empty lines
//! are skipped; a line that does not decode is an error item, after which the stream goes on.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use futures_core::Stream;
use hyper::body::{Body, Incoming};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Longest accepted event line (1 MiB).
const MAX_LINE: usize = 1 << 20;

/// A stream of log events of type `T` (an [`AuditLogEvent`](crate::AuditLogEvent) or an
/// [`ErrorLogEvent`](crate::ErrorLogEvent)).
///
/// Implements [`Stream`]; [`LogStream::next`] reads without extra crates.
pub struct LogStream<T> {
    body: Incoming,
    buf: BytesMut,
    done: bool,
    _event: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for LogStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream")
            .field("buffered", &self.buf.len())
            .field("done", &self.done)
            .finish()
    }
}

impl<T: DeserializeOwned> LogStream<T> {
    pub(crate) fn new(body: Incoming) -> Self {
        LogStream {
            body,
            buf: BytesMut::new(),
            done: false,
            _event: PhantomData,
        }
    }

    /// The next event, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Takes one complete line out of the buffer and decodes it.
    fn take_line(&mut self) -> Option<Result<T>> {
        loop {
            let pos = self.buf.iter().position(|b| *b == b'\n')?;
            let line = self.buf.split_to(pos + 1);
            if let Some(event) = decode(&line) {
                return Some(event);
            }
        }
    }
}

fn decode<T: DeserializeOwned>(line: &[u8]) -> Option<Result<T>> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return None;
    }
    Some(
        kes_types::json::from_slice(line)
            .map_err(|e| Error::InvalidResponse(format!("log event: {e}"))),
    )
}

impl<T: DeserializeOwned> Stream for LogStream<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.take_line() {
                return Poll::Ready(Some(event));
            }
            if this.done {
                let rest = std::mem::take(&mut this.buf);
                return Poll::Ready(decode(&rest));
            }
            if this.buf.len() > MAX_LINE {
                this.done = true;
                this.buf.clear();
                return Poll::Ready(Some(Err(Error::InvalidResponse(
                    "log event longer than 1 MiB".into(),
                ))));
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.done = true,
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    this.buf.clear();
                    return Poll::Ready(Some(Err(Error::Connection(format!(
                        "log stream: {}",
                        crate::transport::error_chain(&e)
                    )))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            let n = chunk.len();
                            this.buf.extend_from_slice(chunk);
                            data.advance(n);
                        }
                    }
                }
            }
        }
    }
}
