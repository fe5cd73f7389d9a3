//! TLS for stream listeners and outbound connections (rustls, ring provider): a
//! certificate chain and key for the router's TLS listeners, and the CAs it trusts when it
//! connects out (`sips`, `msrps` next hops).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the TLS material is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain of the router (leaf first).
    pub certificate: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// PEM CA certificates trusted for outbound TLS; none: outbound TLS is refused.
    pub ca_file: Option<PathBuf>,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM object.
    #[error("{}: {message}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// rustls refused the material.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The acceptor for listeners and the connector for outbound connections.
#[derive(Clone)]
pub struct TlsContext {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    pub(crate) connector: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext")
            .field("outbound", &self.connector.is_some())
            .finish_non_exhaustive()
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |message: String| TlsError::Pem {
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem("no certificate in the file".into()));
    }
    Ok(certs)
}

impl TlsContext {
    /// Read the certificate, key and CAs.
    pub fn load(s: &TlsSettings) -> Result<Arc<TlsContext>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certs(&s.certificate)?;
        let key = PrivateKeyDer::from_pem_file(&s.private_key).map_err(|e| TlsError::Pem {
            path: s.private_key.clone(),
            message: e.to_string(),
        })?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        let connector = match &s.ca_file {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs(ca)? {
                    roots.add(c)?;
                }
                let client = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(tokio_rustls::TlsConnector::from(Arc::new(client)))
            }
            None => None,
        };
        Ok(Arc::new(TlsContext {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            connector,
        }))
    }
}
