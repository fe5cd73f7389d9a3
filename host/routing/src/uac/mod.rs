//! Kamailio's `uac` module: the router acting as a client towards the next hop.
//!
//! - `uac_replace_from` / `uac_replace_to`: a header's name and URI replaced on the way
//!   out, restored in the replies coming back, and (Kamailio's `restore_mode` "auto")
//!   replaced again in the dialog's later requests: the original URI travels in the
//!   Record-Route, sealed (`vsf`, `vst`: the original and the new URI XORed with each
//!   other and a key stream of the router's secret, as Kamailio's `restore_passwd` does),
//!   so that a request that has one of them yields the other.
//! - `uac_auth`: a failure route answers the next hop's 401/407 with credentials.
//! - `uac_req_send`: a request from the router, sent again over UDP until answered
//!   ([`Outstanding`]).
//!
//! This module holds the pure parts: seals, the parts of a From/To header, credentials,
//! the requests waited on.

use crate::auth::digest::{
    Algorithm, Credentials, constant_time_eq, digest_response, parse_credential_fields,
};
use sipwasm_proto::{SipMessage, Uri};

mod outstanding;
mod route;
pub use outstanding::{
    Ended, MAX_BYTES_PER_OWNER, MAX_OUTSTANDING, MAX_PER_OWNER, Outstanding, Refused,
};
pub use route::{UacRequest, req_send};

/// Why a uac call failed; mirrors the WIT `uac.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UacError {
    /// No challenge to answer.
    #[error("no challenge to answer: {0}")]
    NoChallenge(String),
    /// A URI, display name or header text that would break the message.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The event has no SIP request.
    #[error("no SIP request in this event")]
    NoRequest,
    /// No route to the destination.
    #[error("unreachable: {0}")]
    Unreachable(String),
}

/// Which header a replacement is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// From (`vsf`)
    From,
    /// To (`vst`)
    To,
}

impl Side {
    /// The Record-Route parameter carrying its seal.
    pub fn rr_param(self) -> &'static str {
        match self {
            Side::From => "vsf",
            Side::To => "vst",
        }
    }

    /// The other header.
    pub fn other(self) -> Side {
        match self {
            Side::From => Side::To,
            Side::To => Side::From,
        }
    }

    /// The header's entry in `msg`.
    pub fn of(self, msg: &SipMessage) -> &sipwasm_proto::NameAddr {
        match self {
            Side::From => msg.from(),
            Side::To => msg.to(),
        }
    }
}

/// What part of a header a replacement changed, and what it was: a reply (or the other
/// direction's request) gets `original` back in that place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restore {
    /// The header.
    pub side: Side,
    /// True for the name and URI (an initial request), false for the URI alone (a
    /// later request of the dialog).
    pub name_addr: bool,
    /// What was there.
    pub original: String,
}

/// The uac state of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UacState {
    /// Replacements to undo in replies.
    pub restores: Vec<Restore>,
    /// `;vsf=...;vst=...` for the Record-Route.
    pub rr_params: String,
    /// The Authorization or Proxy-Authorization line of `uac_auth`.
    pub credentials: Option<String>,
}

/// Where the name and URI of a From/To entry are in the message: from its start to its
/// parameters.
pub fn name_addr_span(na: &sipwasm_proto::NameAddr) -> sipwasm_proto::Span {
    let end = if na.params.start < na.params.end {
        na.params.start
    } else {
        na.span.end
    };
    sipwasm_proto::Span {
        start: na.span.start,
        end,
    }
}

/// `"display" <uri>` (or `<uri>` without a display name), checked.
pub fn name_addr(display: &str, uri: &str) -> Result<String, UacError> {
    let bad = |what: &str| UacError::InvalidArgument(what.to_string());
    let parsed = Uri::parse_standalone(uri.as_bytes())
        .map_err(|e| bad(&format!("{uri:?} is not a URI: {e}")))?;
    if parsed.scheme == sipwasm_proto::uri::Scheme::Other || uri.contains(['<', '>', ' ']) {
        return Err(bad(&format!("{uri:?} is not a sip, sips or tel URI")));
    }
    if display.chars().any(|c| c.is_control()) {
        return Err(bad("a control character in the display name"));
    }
    Ok(if display.is_empty() {
        format!("<{uri}>")
    } else {
        let escaped = display.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\" <{uri}>")
    })
}

/// The dialog a seal belongs to: its Call-ID and the From tag of its first request.
#[derive(Clone, Copy, Debug)]
pub struct Dialog<'a> {
    /// Call-ID.
    pub call_id: &'a [u8],
    /// The From tag of the dialog's first request (a later request's From tag going the
    /// same way, its To tag coming back).
    pub from_tag: &'a [u8],
}

impl Dialog<'_> {
    /// The key stream of this dialog's seals: another dialog's seal (one whose URIs a
    /// caller knows) tells nothing about this one's.
    fn key(&self, config: &crate::env::LocalConfig, len: usize) -> Vec<u8> {
        let mut label = b"uac-restore".to_vec();
        for part in [self.call_id, self.from_tag] {
            label.extend_from_slice(&(part.len() as u32).to_be_bytes());
            label.extend_from_slice(part);
        }
        config.keystream(&label, len)
    }

    /// The MAC of a seal's text in this dialog.
    fn mac(&self, config: &crate::env::LocalConfig, sealed: &str) -> String {
        config.sign(&[b"uac-seal", self.call_id, self.from_tag, sealed.as_bytes()])
    }
}

/// `a` XOR `b` (the shorter padded with zeros) XOR `key`.
fn xor3(a: &[u8], b: &[u8], key: &[u8]) -> Vec<u8> {
    (0..a.len().max(b.len()))
        .map(|i| a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0) ^ key[i])
        .collect()
}

/// The seal of a replacement of `original` by `new` (URIs) in `dialog`: either URI
/// opens it to the other (hex, then `.` and a MAC: a seal cannot be forged or moved to
/// another dialog).
pub fn seal(
    config: &crate::env::LocalConfig,
    dialog: Dialog<'_>,
    original: &str,
    new: &str,
) -> String {
    let key = dialog.key(config, original.len().max(new.len()));
    let out = crate::auth::digest::hex(&xor3(original.as_bytes(), new.as_bytes(), &key));
    let mac = dialog.mac(config, &out);
    format!("{out}.{mac}")
}

/// The URI `seal` pairs with `known` in `dialog`; `None` when the seal is not this
/// router's for this dialog (a forged or moved one), or does not open to a URI.
pub fn unseal(
    config: &crate::env::LocalConfig,
    dialog: Dialog<'_>,
    seal: &str,
    known: &str,
) -> Option<String> {
    let (sealed, mac) = seal.split_once('.')?;
    if !sealed.len().is_multiple_of(2) || sealed.len() > 2048 {
        return None;
    }
    if !constant_time_eq(dialog.mac(config, sealed).as_bytes(), mac.as_bytes()) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..sealed.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(sealed.get(i..i + 2)?, 16).ok())
        .collect();
    let bytes = bytes?;
    if known.len() > bytes.len() {
        return None;
    }
    let key = dialog.key(config, bytes.len());
    let mut other = xor3(&bytes, known.as_bytes(), &key);
    while other.last() == Some(&0) {
        other.pop();
    }
    let text = String::from_utf8(other).ok()?;
    let u = Uri::parse_standalone(text.as_bytes()).ok()?;
    (u.scheme != sipwasm_proto::uri::Scheme::Other && text.len() == u.whole.end as usize)
        .then_some(text)
}

/// Escape a quoted-string value.
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The Authorization (or, for a proxy's challenge, Proxy-Authorization) header line
/// answering the first of `challenges` for `realm` that we speak (Digest; MD5 or SHA-256; qop none or
/// auth), for `method` to `uri`, with `cnonce` when the challenge asks for qop.
pub fn credentials_for(
    challenges: &[(bool, String)],
    realm: &str,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> Result<String, UacError> {
    if username.is_empty()
        || username
            .chars()
            .chain(password.chars())
            .any(|c| c.is_control())
    {
        return Err(UacError::InvalidArgument(
            "an empty user name, or a control character in the credentials".into(),
        ));
    }
    if challenges.is_empty() {
        return Err(UacError::NoChallenge(
            "the reply carries no WWW-Authenticate or Proxy-Authenticate".into(),
        ));
    }
    for (proxy, value) in challenges {
        let Ok(ch) = parse_credential_fields(value.as_bytes()) else {
            continue;
        };
        // only the realm the credentials are for: another would get a digest of the
        // password to guess it from
        if ch.realm != realm {
            continue;
        }
        let Some(alg) = Algorithm::from_name(&ch.algorithm) else {
            continue;
        };
        let qop = match ch.qop.as_deref() {
            None => None,
            Some(list)
                if list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth")) =>
            {
                Some("auth".to_string())
            }
            Some(_) => continue,
        };
        if ch.nonce.is_empty() {
            continue;
        }
        let c = Credentials {
            username: username.to_string(),
            realm: ch.realm.clone(),
            nonce: ch.nonce.clone(),
            uri: uri.to_string(),
            algorithm: alg.name().to_string(),
            cnonce: qop.as_ref().map(|_| cnonce.to_string()),
            nc: qop.as_ref().map(|_| "00000001".to_string()),
            qop: qop.clone(),
            ..Credentials::default()
        };
        let response = digest_response(&c, password, method)
            .map_err(|e| UacError::NoChallenge(e.to_string()))?;
        let mut line = format!(
            "{}: Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
            if *proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            },
            quoted(username),
            quoted(&ch.realm),
            quoted(&ch.nonce),
            quoted(uri),
            alg.name(),
        );
        if qop.is_some() {
            line.push_str(&format!(", cnonce=\"{cnonce}\", nc=00000001, qop=auth"));
        }
        if let Some(opaque) = &ch.opaque {
            line.push_str(&format!(", opaque=\"{}\"", quoted(opaque)));
        }
        line.push_str("\r\n");
        return Ok(line);
    }
    Err(UacError::NoChallenge(format!(
        "no Digest challenge for realm {realm:?} with MD5 or SHA-256 and qop auth (or none)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::LocalConfig;

    fn config() -> LocalConfig {
        LocalConfig::new(Vec::new(), Vec::new(), None).with_secret(b"router secret")
    }

    #[test]
    fn a_seal_opens_to_either_uri_with_the_other() {
        let c = config();
        let d = Dialog {
            call_id: b"call-1",
            from_tag: b"tag-1",
        };
        let old = "sip:alice@home.example.com";
        let new = "sip:anonymous@anonymous.invalid";
        let s = seal(&c, d, old, new);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.'));
        assert_eq!(unseal(&c, d, &s, old).as_deref(), Some(new));
        assert_eq!(unseal(&c, d, &s, new).as_deref(), Some(old));
        // another router's secret, another dialog, another URI, a broken or forged seal
        let other = LocalConfig::new(Vec::new(), Vec::new(), None).with_secret(b"another");
        assert_eq!(unseal(&other, d, &s, old), None);
        let elsewhere = Dialog {
            call_id: b"call-2",
            from_tag: b"tag-1",
        };
        assert_eq!(unseal(&c, elsewhere, &s, old), None);
        assert_eq!(unseal(&c, d, &s, "sip:bob@example.com"), None);
        assert_eq!(unseal(&c, d, "zz", old), None);
        assert_eq!(unseal(&c, d, &s[..s.len() - 1], old), None);
        let (hex, mac) = s.split_once('.').unwrap();
        let first = if hex.starts_with('0') { "1" } else { "0" };
        let flipped = format!("{first}{}.{mac}", &hex[1..]);
        assert_eq!(unseal(&c, d, &flipped, old), None);
        // the same URIs in two dialogs give unrelated seals
        assert_ne!(seal(&c, elsewhere, old, new).split('.').next(), Some(hex));
    }

    #[test]
    fn name_addrs_are_written_and_checked() {
        assert_eq!(
            name_addr("Anonymous", "sip:anonymous@anonymous.invalid").unwrap(),
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>"
        );
        assert_eq!(name_addr("", "tel:+123").unwrap(), "<tel:+123>");
        assert_eq!(
            name_addr("a \"b\"", "sip:x@y").unwrap(),
            "\"a \\\"b\\\"\" <sip:x@y>"
        );
        assert!(name_addr("", "not a uri").is_err());
        assert!(name_addr("", "http://example.com").is_err());
        assert!(name_addr("a\r\nX: y", "sip:x@y").is_err());
    }

    #[test]
    fn credentials_answer_the_challenge_as_rfc_2617_computes_them() {
        // RFC 2617 §3.5's example, with our cnonce fixed
        let challenge = (
            false,
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
                .to_string(),
        );
        assert!(matches!(
            credentials_for(
                std::slice::from_ref(&challenge),
                "another realm",
                "Mufasa",
                "pw",
                "GET",
                "/",
                "c"
            ),
            Err(UacError::NoChallenge(_))
        ));
        let line = credentials_for(
            &[challenge],
            "testrealm@host.com",
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
        )
        .unwrap();
        assert!(line.starts_with("Authorization: Digest username=\"Mufasa\""));
        assert!(
            line.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{line}"
        );
        assert!(line.contains("nc=00000001, qop=auth"));
        assert!(line.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
        assert!(line.ends_with("\r\n"));
        // a proxy's challenge without qop
        let line = credentials_for(
            &[(true, "Digest realm=\"carrier\", nonce=\"abc\"".into())],
            "carrier",
            "trunk",
            "pw",
            "INVITE",
            "sip:+1555@carrier",
            "x",
        )
        .unwrap();
        assert!(line.starts_with("Proxy-Authorization: Digest "));
        assert!(!line.contains("qop"));
        // nothing we speak
        assert!(matches!(
            credentials_for(
                &[(
                    false,
                    "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"".into()
                )],
                "r",
                "u",
                "p",
                "INVITE",
                "sip:x",
                "c"
            ),
            Err(UacError::NoChallenge(_))
        ));
        assert!(matches!(
            credentials_for(&[], "r", "u", "p", "INVITE", "sip:x", "c"),
            Err(UacError::NoChallenge(_))
        ));
        assert!(
            credentials_for(
                &[(false, "Basic realm=\"r\"".into())],
                "r",
                "u",
                "p",
                "INVITE",
                "sip:x",
                "c"
            )
            .is_err()
        );
        assert!(matches!(
            credentials_for(
                &[(false, "Digest realm=\"r\", nonce=\"n\"".into())],
                "r",
                "u\r\n",
                "p",
                "INVITE",
                "sip:x",
                "c"
            ),
            Err(UacError::InvalidArgument(_))
        ));
    }
}
