//! Logging setup: human-readable lines by default, JSON on request; the level can be
//! changed while the router runs (`sipwasm ctl call log.level debug`).

use crate::config::LogFormat;
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Replaces the filter of the installed subscriber.
type SetFilter = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// The installed subscriber's filter changer, and the filter it runs with.
static LEVEL: OnceLock<(SetFilter, std::sync::Mutex<String>)> = OnceLock::new();

/// Install the global subscriber. `level` is a tracing filter (`info`, `debug`,
/// `sipwasm=debug,warn`); `RUST_LOG` overrides it.
pub fn init(format: LogFormat, level: Option<&str>) {
    let (filter, text) = match EnvFilter::try_from_default_env() {
        Ok(f) => {
            let text = f.to_string();
            (f, text)
        }
        Err(_) => {
            let text = level.unwrap_or("info").to_string();
            match EnvFilter::try_new(&text) {
                Ok(f) => (f, text),
                Err(_) => (EnvFilter::new("info"), "info".to_string()),
            }
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // the reload layer goes last: it wraps the finished formatter
    let (installed, set): (bool, SetFilter) = match format {
        LogFormat::Text => {
            let builder = builder.with_ansi(false).with_filter_reloading();
            let handle = builder.reload_handle();
            (
                builder.try_init().is_ok(),
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())),
            )
        }
        LogFormat::Json => {
            let builder = builder.json().flatten_event(true).with_filter_reloading();
            let handle = builder.reload_handle();
            (
                builder.try_init().is_ok(),
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())),
            )
        }
    };
    if installed {
        let _ = LEVEL.set((set, std::sync::Mutex::new(text)));
    }
}

/// The filter logging runs with now.
pub fn level() -> Option<String> {
    LEVEL
        .get()
        .map(|(_, text)| text.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

/// Log with `filter` (`info`, `debug`, `sipwasm=debug,warn` ...) from now on.
pub fn set_level(filter: &str) -> Result<(), String> {
    let parsed = EnvFilter::try_new(filter).map_err(|e| format!("{filter:?}: {e}"))?;
    let (set, text) = LEVEL
        .get()
        .ok_or("logging was not set up by this process")?;
    set(parsed)?;
    *text.lock().unwrap_or_else(|e| e.into_inner()) = filter.to_string();
    tracing::info!(filter, "log level changed");
    Ok(())
}
