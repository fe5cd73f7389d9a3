//! Kamailio's `siputils` checks and conversions: `has_totag`, E.164 numbers
//! (`is_e164`, `is_uri_user_e164`), `is_user`, Request-URI parameters (`uri_param`,
//! `add_uri_param`) and `tel2sip`.

use crate::context::RouteContext;
use sipwasm_proto::Uri;

/// Why a siputils call failed; mirrors the WIT `siputils.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SiputilsError {
    /// A parameter text that would break the URI, or an argument that is not one.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The result is not a valid URI.
    #[error("invalid URI: {0}")]
    InvalidUri(String),
    /// The event has no SIP request.
    #[error("no SIP request in this event")]
    NoRequest,
}

/// Longest E.164 number with its `+` (Kamailio's `e164_max_len`).
const E164_MAX_LEN: usize = 16;

/// `is_e164(number)`: `+` and 2 to 15 digits.
pub fn is_e164(number: &str) -> bool {
    number.len() > 2
        && number.len() <= E164_MAX_LEN
        && number.starts_with('+')
        && number[1..].bytes().all(|c| c.is_ascii_digit())
}

/// `is_uri_user_e164(uri)`: the user part (between the scheme's `:` and the `@`) is an
/// E.164 number; false when the URI has none.
pub fn is_uri_user_e164(uri: &str) -> bool {
    let Some((_, rest)) = uri.split_once(':') else {
        return false;
    };
    rest.split_once('@').is_some_and(|(user, _)| is_e164(user))
}

/// `tel2sip(uri, hostpart)`: a `tel:` URI as a SIP URI on `hostpart` with `user=phone`,
/// its visual separators (`-`, `.`, `(`, `)`) dropped before the parameters and the whole
/// lower-cased, as Kamailio writes it. `None` when `uri` is not a `tel:` URI (nothing to
/// do).
pub fn tel2sip(uri: &str, hostpart: &str) -> Result<Option<String>, SiputilsError> {
    let Some(number) = uri
        .get(..4)
        .filter(|s| s.eq_ignore_ascii_case("tel:"))
        .map(|_| &uri[4..])
    else {
        return Ok(None);
    };
    let (subscriber, params) = match number.find(';') {
        Some(i) => number.split_at(i),
        None => (number, ""),
    };
    let subscriber: String = subscriber
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
        .collect();
    let sip = format!(
        "sip:{}{}@{hostpart};user=phone",
        subscriber.to_ascii_lowercase(),
        params.to_ascii_lowercase()
    );
    Uri::parse_standalone(sip.as_bytes())
        .map_err(|e| SiputilsError::InvalidUri(format!("{sip:?}: {e}")))?;
    Ok(Some(sip))
}

/// Check a URI parameter a plugin adds: `name` or `name=value`, of URI parameter
/// characters only.
fn check_param(param: &str) -> Result<(), SiputilsError> {
    let (name, value) = match param.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (param, None),
    };
    let allowed = |c: u8| c.is_ascii_alphanumeric() || b"-_.!~*'()[]/:&+$%".contains(&c);
    if name.is_empty()
        || !name.bytes().all(allowed)
        || value.is_some_and(|v| v.is_empty() || !v.bytes().all(allowed))
    {
        return Err(SiputilsError::InvalidArgument(format!(
            "{param:?} is not a URI parameter"
        )));
    }
    Ok(())
}

impl RouteContext {
    /// `has_totag()`: true when the request has a non-empty To tag, i.e. it belongs to a
    /// dialog (an in-dialog request), as Kamailio's siputils decides.
    pub fn has_totag(&self) -> bool {
        self.msg.is_request()
            && self
                .msg
                .to()
                .tag(self.msg.as_bytes())
                .is_some_and(|t| !t.is_empty())
    }

    /// `is_user(user)`: the credentials checked by `auth` carry `user` (false before a
    /// check passed).
    pub fn is_user(&self, user: &str) -> bool {
        self.auth_user.as_ref().is_some_and(|(u, _)| u == user)
    }

    /// `uri_param(name)` / `uri_param(name, value)`: the Request-URI (as changed) has the
    /// parameter, with that value when one is given (names ignore case, values do not).
    pub fn uri_param(&self, name: &str, value: Option<&str>) -> bool {
        let Some(ruri) = self.current_ruri() else {
            return false;
        };
        let Ok(u) = Uri::parse_standalone(ruri.as_bytes()) else {
            return false;
        };
        match (u.param(ruri.as_bytes(), name.as_bytes()), value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(v), Some(want)) => v == Some(want.as_bytes()),
        }
    }

    /// `add_uri_param(param)`: add `;param` to the Request-URI's parameters (before its
    /// headers).
    pub fn add_uri_param(&mut self, param: &str) -> Result<(), SiputilsError> {
        check_param(param)?;
        if !self.msg.is_request() {
            return Err(SiputilsError::NoRequest);
        }
        let ruri = self.current_ruri().ok_or(SiputilsError::NoRequest)?;
        let new = match ruri.find('?') {
            Some(i) => format!("{};{param}{}", &ruri[..i], &ruri[i..]),
            None => format!("{ruri};{param}"),
        };
        Uri::parse_standalone(new.as_bytes())
            .map_err(|e| SiputilsError::InvalidUri(format!("{new:?}: {e}")))?;
        self.new_ruri = Some(new);
        self.ruri_new = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_as_kamailio_counts_them() {
        assert!(is_e164("+12"));
        assert!(is_e164("+123456789012345"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+1"));
        assert!(!is_e164("12345"));
        assert!(!is_e164("+12a4"));
        assert!(is_uri_user_e164("sip:+4930123456@example.com;user=phone"));
        assert!(is_uri_user_e164("tel:+4930123456@x"));
        assert!(!is_uri_user_e164("sip:alice@example.com"));
        assert!(!is_uri_user_e164("sip:example.com"));
        assert!(!is_uri_user_e164("nonsense"));
    }

    #[test]
    fn tel_uris_become_sip_uris() {
        assert_eq!(
            tel2sip("tel:+1-201-555-0123", "example.com")
                .unwrap()
                .unwrap(),
            "sip:+12015550123@example.com;user=phone"
        );
        assert_eq!(
            tel2sip("TEL:(0201).555;Phone-Context=example.COM", "gw.example.net")
                .unwrap()
                .unwrap(),
            "sip:0201555;phone-context=example.com@gw.example.net;user=phone"
        );
        assert_eq!(tel2sip("sip:alice@example.com", "x").unwrap(), None);
        assert!(tel2sip("tel:+1", "bad host").is_err());
    }

    #[test]
    fn request_uri_parameters_are_tested_and_added() {
        let mut c = crate::proxy_tests::ctx_from(&crate::proxy_tests::invite(""));
        assert!(!c.uri_param("user", None));
        c.add_uri_param("user=phone").unwrap();
        c.add_uri_param("lr").unwrap();
        assert_eq!(
            c.current_ruri().unwrap(),
            "sip:bob@biloxi.example.com;user=phone;lr"
        );
        assert!(c.uri_param("user", None));
        assert!(c.uri_param("USER", Some("phone")));
        assert!(!c.uri_param("user", Some("ip")));
        assert!(c.uri_param("lr", None));
        assert!(c.add_uri_param("a;b").is_err());
        assert!(c.add_uri_param("x=").is_err());
        assert!(c.add_uri_param("").is_err());
        assert!(c.add_uri_param("a\r\nb").is_err());
        // before the URI's headers
        c.set_ruri("sip:bob@example.com?Subject=x".into());
        c.add_uri_param("transport=tcp").unwrap();
        assert_eq!(
            c.current_ruri().unwrap(),
            "sip:bob@example.com;transport=tcp?Subject=x"
        );
        assert!(!c.is_user("alice"));
        c.auth_user = Some(("alice".into(), "example.com".into()));
        assert!(c.is_user("alice"));
        assert!(!c.is_user("Alice"));
    }
}
