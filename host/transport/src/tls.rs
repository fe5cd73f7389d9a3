//! TLS for stream listeners and outbound connections (rustls, ring provider): a
//! certificate chain and key for the router's TLS listeners, the CAs client certificates
//! must chain to (mutual TLS on listeners with `client_cert`), and the CAs trusted when it
//! connects out (`sips`, `msrps` next hops), with per-destination exceptions.

use crate::listen::ClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use sipwasm_proto::TlsPeer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the TLS material is, and how peers are checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain of the router (leaf first).
    pub certificate: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// PEM CA certificates trusted for outbound TLS; none: the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// PEM CA certificates a client certificate must chain to, on listeners with
    /// `client_cert`.
    pub client_ca: Option<PathBuf>,
    /// Names a client certificate must carry (a DNS subject alternative name or the
    /// common name; `*.domain` for any one label below it); empty: any the CAs signed.
    pub client_names: Vec<String>,
    /// Outbound exceptions, first match wins.
    pub destinations: Vec<TlsDestination>,
}

/// How outbound TLS to some addresses checks the peer, instead of "its certificate chains
/// to a trusted CA and names the address dialled".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsDestination {
    /// The addresses.
    pub net: ipnet::IpNet,
    /// Only this port; any when absent.
    pub port: Option<u16>,
    /// What is checked.
    pub check: PeerCheck,
}

/// What outbound TLS checks of a destination's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerCheck {
    /// It chains to a trusted CA and carries this DNS name (a carrier's SBC named by host
    /// name, dialled by address).
    Name(String),
    /// Nothing but the handshake's own signatures: any certificate is accepted. For labs.
    Insecure,
}

impl TlsDestination {
    fn covers(&self, dest: SocketAddr) -> bool {
        self.net.contains(&dest.ip()) && self.port.is_none_or(|p| p == dest.port())
    }
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
    /// The client certificate CAs cannot verify anything.
    #[error("[tls] client_ca: {0}")]
    ClientCa(#[from] rustls::server::VerifierBuilderError),
    /// A listener asks for client certificates and nothing can check them.
    #[error("a tls: listener with client_cert needs [tls] client_ca")]
    NoClientCa,
    /// A server name is not a DNS name.
    #[error("[tls] destination name {0:?} is not a DNS name")]
    Name(String),
}

/// The acceptors for listeners and the connectors for outbound connections.
#[derive(Clone)]
pub struct TlsContext {
    acceptor: tokio_rustls::TlsAcceptor,
    mutual: Option<Mutual>,
    connector: Option<tokio_rustls::TlsConnector>,
    insecure: Option<tokio_rustls::TlsConnector>,
    destinations: Vec<TlsDestination>,
}

/// Acceptors that ask for a client certificate and verify it against `[tls] client_ca`.
#[derive(Clone)]
struct Mutual {
    required: tokio_rustls::TlsAcceptor,
    optional: tokio_rustls::TlsAcceptor,
    names: Vec<String>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext")
            .field("outbound", &self.connector.is_some())
            .field("client_certificates", &self.mutual.is_some())
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

fn roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(path)? {
        roots.add(c)?;
    }
    Ok(roots)
}

/// The system's trust store; empty (with a warning) when it cannot be read.
fn system_roots() -> rustls::RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!("system CA certificates: {e}");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "system CA certificates loaded");
    roots
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
        let server = |verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>| {
            let b = rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()?;
            let b = match verifier {
                Some(v) => b.with_client_cert_verifier(v),
                None => b.with_no_client_auth(),
            };
            Ok::<_, TlsError>(tokio_rustls::TlsAcceptor::from(Arc::new(
                b.with_single_cert(chain.clone(), key.clone_key())?,
            )))
        };
        let mutual = match &s.client_ca {
            Some(ca) => {
                let roots = Arc::new(roots(ca)?);
                let verifier = |b: rustls::server::ClientCertVerifierBuilder| b.build();
                let builder = || {
                    rustls::server::WebPkiClientVerifier::builder_with_provider(
                        roots.clone(),
                        provider.clone(),
                    )
                };
                Some(Mutual {
                    required: server(Some(verifier(builder())?))?,
                    optional: server(Some(verifier(builder().allow_unauthenticated())?))?,
                    names: s.client_names.clone(),
                })
            }
            None => None,
        };
        let trusted = match &s.ca_file {
            Some(ca) => roots(ca)?,
            None => system_roots(),
        };
        let connector = (!trusted.is_empty()).then(|| {
            let client = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(trusted).with_no_client_auth());
            client.map(|c| tokio_rustls::TlsConnector::from(Arc::new(c)))
        });
        let connector = connector.transpose()?;
        if connector.is_none() {
            tracing::warn!(
                "no CA certificates (no [tls] ca_file, an empty system store): outbound TLS is refused"
            );
        }
        for d in &s.destinations {
            match &d.check {
                PeerCheck::Name(n) => {
                    ServerName::try_from(n.clone()).map_err(|_| TlsError::Name(n.clone()))?;
                }
                PeerCheck::Insecure => tracing::warn!(
                    net = %d.net,
                    port = ?d.port,
                    "outbound TLS to these addresses accepts any certificate ([[tls.destination]] verify = false)"
                ),
            }
        }
        let insecure = s
            .destinations
            .iter()
            .any(|d| d.check == PeerCheck::Insecure)
            .then(|| {
                rustls::ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map(|b| {
                        b.dangerous()
                            .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                                provider.clone(),
                            )))
                            .with_no_client_auth()
                    })
                    .map(|c| tokio_rustls::TlsConnector::from(Arc::new(c)))
            })
            .transpose()?;
        Ok(Arc::new(TlsContext {
            acceptor: server(None)?,
            mutual,
            connector,
            insecure,
            destinations: s.destinations.clone(),
        }))
    }

    /// The acceptor of a listener with this `client_cert` setting, and the names a client
    /// certificate must carry; `None` when client certificates are asked for and no
    /// `[tls] client_ca` can check them.
    pub(crate) fn acceptor(
        &self,
        client_cert: Option<ClientCert>,
    ) -> Option<(&tokio_rustls::TlsAcceptor, &[String])> {
        match (client_cert, &self.mutual) {
            (None, _) => Some((&self.acceptor, &[])),
            (Some(ClientCert::Required), Some(m)) => Some((&m.required, &m.names)),
            (Some(ClientCert::Optional), Some(m)) => Some((&m.optional, &m.names)),
            (Some(_), None) => None,
        }
    }

    /// How to connect to `dest`: the connector and the name its certificate must carry
    /// (the address dialled, unless a `[tls]` destination says otherwise); `None` when
    /// nothing is trusted.
    pub(crate) fn connector_for(
        &self,
        dest: SocketAddr,
    ) -> Option<(tokio_rustls::TlsConnector, ServerName<'static>)> {
        let by_address = ServerName::IpAddress(dest.ip().into());
        match self.destinations.iter().find(|d| d.covers(dest)) {
            Some(TlsDestination {
                check: PeerCheck::Insecure,
                ..
            }) => Some((self.insecure.clone()?, by_address)),
            Some(TlsDestination {
                check: PeerCheck::Name(n),
                ..
            }) => Some((
                self.connector.clone()?,
                ServerName::try_from(n.clone()).ok()?,
            )),
            None => Some((self.connector.clone()?, by_address)),
        }
    }
}

/// Who presented `chain` (its leaf), verified by the acceptor that asked for it.
pub(crate) fn peer_of(chain: &[CertificateDer<'_>]) -> Option<TlsPeer> {
    let cert = webpki::EndEntityCert::try_from(chain.first()?).ok()?;
    let subject = distinguished_name(cert.subject())?;
    let issuer = distinguished_name(cert.issuer())?;
    Some(TlsPeer {
        verified: true,
        subject: render(&subject),
        subject_cn: subject
            .iter()
            .find(|(k, _)| *k == "CN")
            .map(|(_, v)| v.clone()),
        issuer: render(&issuer),
        san_dns: cert.valid_dns_names().map(str::to_string).collect(),
    })
}

/// `CN=Carrier SBC, O=Carrier`: the attributes in certificate order.
fn render(name: &[(&'static str, String)]) -> String {
    let parts: Vec<String> = name.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

/// The attributes of a DER distinguished name (the contents of its SEQUENCE, as webpki
/// hands it out): short names for the usual ones, `OID` for the rest; `None` when it is
/// not DER.
fn distinguished_name(mut der: &[u8]) -> Option<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    while !der.is_empty() {
        let (mut set, rest) = der_item(der, 0x31)?;
        der = rest;
        while !set.is_empty() {
            let (attribute, rest) = der_item(set, 0x30)?;
            set = rest;
            let (oid, value) = der_item(attribute, 0x06)?;
            let (&tag, _) = value.split_first()?;
            let (text, _) = der_item(value, tag)?;
            let text = match tag {
                // BMPString: UTF-16BE
                0x1e => {
                    let units: Vec<u16> = text
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16_lossy(&units)
                }
                _ => String::from_utf8_lossy(text).into_owned(),
            };
            out.push((attribute_name(oid), text));
        }
    }
    Some(out)
}

fn attribute_name(oid: &[u8]) -> &'static str {
    match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => "OID",
    }
}

/// One DER item with tag `tag` at the start of `der`: its contents and what follows.
fn der_item(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = der.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        n if n < 0x80 => (usize::from(n), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        0x82 => (
            usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?])),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Accepts any certificate (a `[tls]` destination with `verify = false`), still checking
/// the handshake's signatures so the session is at least with the key holder.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(net: &str, port: Option<u16>, check: PeerCheck) -> TlsDestination {
        TlsDestination {
            net: net.parse().unwrap(),
            port,
            check,
        }
    }

    #[test]
    fn a_destination_covers_its_network_and_port() {
        let d = dest("10.0.0.0/8", Some(5061), PeerCheck::Insecure);
        assert!(d.covers("10.1.2.3:5061".parse().unwrap()));
        assert!(!d.covers("10.1.2.3:5062".parse().unwrap()));
        assert!(!d.covers("11.1.2.3:5061".parse().unwrap()));
        let any_port = dest("192.0.2.7/32", None, PeerCheck::Name("a.example".into()));
        assert!(any_port.covers("192.0.2.7:15061".parse().unwrap()));
    }

    #[test]
    fn the_peer_of_a_certificate_has_its_names() {
        let mut p = rcgen::CertificateParams::new(vec![
            "sbc.carrier.example".to_string(),
            "10.0.0.1".to_string(),
        ])
        .unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Carrier SBC");
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Carrier");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let peer = peer_of(&[cert.der().clone()]).unwrap();
        assert_eq!(peer.san_dns, vec!["sbc.carrier.example"]);
        assert_eq!(peer.subject_cn.as_deref(), Some("Carrier SBC"));
        assert!(peer.subject.contains("CN=Carrier SBC"), "{}", peer.subject);
        assert!(peer.subject.contains("O=Carrier"), "{}", peer.subject);
        assert_eq!(peer.issuer, peer.subject);
        assert!(peer_of(&[CertificateDer::from(vec![1, 2, 3])]).is_none());
        // a long name (two-byte lengths), a BMPString
        let mut p = rcgen::CertificateParams::new(vec!["x.example".to_string()]).unwrap();
        let long = "l".repeat(300);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, long.as_str());
        p.distinguished_name.push(
            rcgen::DnType::OrganizationalUnitName,
            rcgen::DnValue::BmpString("Ünit".try_into().unwrap()),
        );
        let cert = p.self_signed(&key).unwrap();
        let peer = peer_of(&[cert.der().clone()]).unwrap();
        assert_eq!(peer.subject_cn.as_deref(), Some(long.as_str()));
        assert!(peer.subject.ends_with(", OU=Ünit"), "{}", peer.subject);
        assert!(peer_of(&[]).is_none());
    }
}
