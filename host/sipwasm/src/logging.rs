//! Logging setup: human-readable lines by default, JSON on request.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `level` is a tracing filter (`info`, `debug`,
/// `sipwasm=debug,warn`); `RUST_LOG` overrides it.
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
