//! A plugin's WASI stdout and stderr go to the router's log, line by line, tagged with the
//! plugin name (a panic message from a Rust guest arrives this way).

use bytes::Bytes;
use std::pin::Pin;
use std::sync::Arc;
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
    plugin: Arc<str>,
    stream: Stream,
}

impl LogSink {
    pub(crate) fn new(plugin: Arc<str>, stream: Stream) -> Self {
        LogSink { plugin, stream }
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

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        match self.sink.stream {
            Stream::Stdout => {
                tracing::info!(target: "sipwasm::plugin", plugin = %self.sink.plugin, stream = "stdout", "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "sipwasm::plugin", plugin = %self.sink.plugin, stream = "stderr", "{text}")
            }
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(nl) = bytes.iter().position(|&c| c == b'\n') {
            if self.pending.is_empty() {
                self.emit(&bytes[..nl]);
            } else {
                self.pending.extend_from_slice(&bytes[..nl]);
                let line = std::mem::take(&mut self.pending);
                self.emit(&line);
            }
            bytes = &bytes[nl + 1..];
        }
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            let line = std::mem::replace(&mut self.pending, rest);
            self.emit(&line);
        }
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
        self.push(&bytes);
        Ok(())
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
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
