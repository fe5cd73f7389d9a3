//! Compiled components cached on disk, keyed by the SHA-256 of the component and the
//! engine's compatibility hash, so a restart (or a second router) skips Cranelift.
//!
//! The cache directory must be writable only by the router: loading a cached file trusts
//! that it was written by this code (wasmtime's `deserialize` is `unsafe` for that reason).

use crate::error::{Report, RuntimeError, cause};
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ComponentCache {
    dir: PathBuf,
}

fn io(path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::io(path, e)
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl ComponentCache {
    pub(crate) fn new(dir: &Path) -> Result<Self, RuntimeError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        Ok(ComponentCache {
            dir: dir.to_path_buf(),
        })
    }

    fn path_for(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir
            .join(format!("{}-{:016x}.cwasm", sha256_hex(wasm), h.finish()))
    }

    /// The compiled component and whether it came from the cache.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> Result<(Component, bool), RuntimeError> {
        let path = self.path_for(engine, wasm);
        if path.exists() {
            // SAFETY: files in the cache directory are written only by `store` below from
            // `Component::serialize` of this engine configuration (the file name carries
            // the engine's compatibility hash); the directory belongs to the router.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cached component: {e:#}");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component =
            Component::new(engine, wasm).map_err(|e| RuntimeError::Compile(cause(e)))?;
        match component.serialize() {
            Ok(bytes) => {
                if let Err(e) = self.store(&path, &bytes) {
                    tracing::warn!("could not cache compiled component: {}", Report(&e));
                }
            }
            Err(e) => tracing::warn!("could not serialize compiled component: {e:#}"),
        }
        Ok((component, false))
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
        // write then rename, so a reader never sees half a file
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))
    }
}
