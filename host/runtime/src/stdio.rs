//! A plugin's WASI stdout and stderr go to the router's log, line by line, tagged with the
//! plugin name (a panic message from a Rust guest arrives this way).

use crate::account::{LogGate, MAX_DROPPED_PER_EVENT, TenantAccount};
use bytes::Bytes;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line kept; longer output is logged in pieces of this size.
const MAX_LINE: usize = 4096;

/// Which standard stream.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Factory handed to WASI for stdout or stderr.
#[derive(Clone)]
pub(crate) struct LogSink {
    account: Arc<TenantAccount>,
    stream: Stream,
    event_drops: Arc<AtomicU32>,
    flood: Arc<AtomicBool>,
}

impl LogSink {
    pub(crate) fn new(
        account: Arc<TenantAccount>,
        stream: Stream,
        event_drops: Arc<AtomicU32>,
        flood: Arc<AtomicBool>,
    ) -> Self {
        LogSink {
            account,
            stream,
            event_drops,
            flood,
        }
    }
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter::new(self.clone()))
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter::new(self.clone()))
    }
}

struct LineWriter {
    sink: LogSink,
    pending: Vec<u8>,
}

impl LineWriter {
    fn new(sink: LogSink) -> Self {
        LineWriter {
            sink,
            pending: Vec::new(),
        }
    }

    /// Log one line; false when the event flooded the log and must be cut.
    fn emit(&self, line: &[u8]) -> bool {
        match self.sink.account.log_gate(&self.sink.event_drops) {
            LogGate::Write => {}
            LogGate::Drop => return true,
            LogGate::Flood => {
                self.sink.flood.store(true, Ordering::Relaxed);
                return false;
            }
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        match self.sink.stream {
            Stream::Stdout => {
                tracing::info!(target: "sipwasm::plugin", plugin = %self.sink.account.name_arc(), stream = "stdout", "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "sipwasm::plugin", plugin = %self.sink.account.name_arc(), stream = "stderr", "{text}")
            }
        }
        true
    }

    /// Take `bytes`, logging each complete line; false when the event flooded the log.
    fn push(&mut self, mut bytes: &[u8]) -> bool {
        let mut ok = true;
        while let Some(nl) = bytes.iter().position(|&c| c == b'\n') {
            if self.pending.is_empty() {
                ok &= self.emit(&bytes[..nl]);
            } else {
                self.pending.extend_from_slice(&bytes[..nl]);
                let line = std::mem::take(&mut self.pending);
                ok &= self.emit(&line);
            }
            bytes = &bytes[nl + 1..];
        }
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            let line = std::mem::replace(&mut self.pending, rest);
            ok &= self.emit(&line);
        }
        ok
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if self.push(&bytes) {
            Ok(())
        } else {
            Err(wasmtime_wasi::p2::StreamError::Trap(wasmtime::Error::msg(
                format!(
                    "log flood: more than {MAX_DROPPED_PER_EVENT} lines over the log rate in one event"
                ),
            )))
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let _ = self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
