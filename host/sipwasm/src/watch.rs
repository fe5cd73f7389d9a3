//! Reload a tenant when its `.wasm` file changes.
//!
//! The directories holding plugin files are watched (not the files: replacing a file by
//! renaming a new one over it is the usual way to deploy, and it changes the inode). Events
//! for a tenant's file are collected until the file has been quiet for [`QUIET`], so a
//! file written in several steps is read once it is complete; then the tenant is reloaded
//! on the watcher's own thread, never on a worker.

use crate::tenants::Tenants;
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// How long a file must stay unchanged before it is reloaded.
pub const QUIET: Duration = Duration::from_millis(100);

/// Watches the tenants' plugin files until dropped.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("watching {}: {error}", dir.display())]
pub struct WatchError {
    dir: PathBuf,
    error: notify::Error,
}

fn absolute(p: &Path) -> PathBuf {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    // the directory's canonical form, so events (which carry canonical paths) match
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map(|d| d.join(name))
            .unwrap_or_else(|_| p.clone()),
        _ => p,
    }
}

/// Start watching every tenant's plugin file.
pub fn start(tenants: Arc<Tenants>) -> Result<PluginWatcher, WatchError> {
    let files: Vec<(PathBuf, String)> = tenants
        .list()
        .iter()
        .map(|t| (absolute(&t.config.plugin_path), t.name().to_string()))
        .collect();
    let (tx, rx) = channel::<PathBuf>();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(e) => {
                let relevant = matches!(
                    e.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any
                ) || matches!(
                    e.kind,
                    EventKind::Access(notify::event::AccessKind::Close(
                        notify::event::AccessMode::Write
                    ))
                );
                if relevant {
                    for p in e.paths {
                        let _ = tx.send(p);
                    }
                }
            }
            Err(e) => tracing::warn!("plugin file watcher: {e}"),
        })
        .map_err(|error| WatchError {
            dir: PathBuf::new(),
            error,
        })?;
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|(f, _)| f.parent().map(Path::to_path_buf))
        .collect();
    for dir in &dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|error| WatchError {
                dir: dir.clone(),
                error,
            })?;
    }
    std::thread::Builder::new()
        .name("sipwasm-watch".into())
        .spawn(move || reload_loop(rx, files, tenants))
        .map_err(|e| WatchError {
            dir: PathBuf::new(),
            error: notify::Error::io(e),
        })?;
    tracing::info!(dirs = dirs.len(), "watching plugin files for changes");
    Ok(PluginWatcher { _watcher: watcher })
}

fn reload_loop(rx: Receiver<PathBuf>, files: Vec<(PathBuf, String)>, tenants: Arc<Tenants>) {
    let tenant_of = |p: &Path| -> Vec<&str> {
        files
            .iter()
            .filter(|(f, _)| f == p)
            .map(|(_, t)| t.as_str())
            .collect()
    };
    // ends when the watcher (the only sender) is dropped
    while let Ok(first) = rx.recv() {
        let mut changed: BTreeSet<String> = BTreeSet::new();
        changed.extend(tenant_of(&first).into_iter().map(str::to_string));
        loop {
            match rx.recv_timeout(QUIET) {
                Ok(p) => changed.extend(tenant_of(&p).into_iter().map(str::to_string)),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        for name in changed {
            tracing::info!(tenant = %name, "plugin file changed: reloading");
            if let Err(e) = tenants.reload(Some(&name)) {
                tracing::warn!(tenant = %name, "reload: {e}");
            }
        }
    }
}
