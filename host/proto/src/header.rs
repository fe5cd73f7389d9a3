//! Header names (with compact forms) and located header lines.

use crate::span::Span;
use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal, $($wire:literal)|+, $compact:expr ;)*) => {
        /// A header name the router knows, or [`HeaderName::Other`].
        ///
        /// Matching is case-insensitive and maps compact forms (`v`, `f`, `t`, `i`, `l`,
        /// `m` ...) to their long names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( #[doc = concat!("`", $canonical, "`")] $variant, )*
            /// Any other header; compare it by its text.
            Other,
        }

        impl HeaderName {
            /// The canonical spelling, `"Other"` for unknown headers.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other => "Other",
                }
            }

            /// The compact form, if the header has one.
            pub const fn compact(self) -> Option<&'static str> {
                match self {
                    $( HeaderName::$variant => $compact, )*
                    HeaderName::Other => None,
                }
            }

            fn from_lowercase(name: &[u8]) -> Self {
                match name {
                    $( $($wire)|+ => HeaderName::$variant, )*
                    _ => HeaderName::Other,
                }
            }
        }
    };
}

/// Longest header name the router knows (`Proxy-Authorization`, `Content-Disposition`...).
const MAX_KNOWN: usize = 24;

header_names! {
    Via => "Via", b"via" | b"v", Some("v");
    From => "From", b"from" | b"f", Some("f");
    To => "To", b"to" | b"t", Some("t");
    CallId => "Call-ID", b"call-id" | b"i", Some("i");
    CSeq => "CSeq", b"cseq", None;
    MaxForwards => "Max-Forwards", b"max-forwards", None;
    ContentLength => "Content-Length", b"content-length" | b"l", Some("l");
    ContentType => "Content-Type", b"content-type" | b"c", Some("c");
    Contact => "Contact", b"contact" | b"m", Some("m");
    Route => "Route", b"route", None;
    RecordRoute => "Record-Route", b"record-route", None;
    Subject => "Subject", b"subject" | b"s", Some("s");
    Supported => "Supported", b"supported" | b"k", Some("k");
    Allow => "Allow", b"allow", None;
    Accept => "Accept", b"accept", None;
    AcceptEncoding => "Accept-Encoding", b"accept-encoding", None;
    AcceptLanguage => "Accept-Language", b"accept-language", None;
    Expires => "Expires", b"expires", None;
    MinExpires => "Min-Expires", b"min-expires", None;
    Date => "Date", b"date", None;
    UserAgent => "User-Agent", b"user-agent", None;
    Server => "Server", b"server", None;
    Authorization => "Authorization", b"authorization", None;
    ProxyAuthorization => "Proxy-Authorization", b"proxy-authorization", None;
    WwwAuthenticate => "WWW-Authenticate", b"www-authenticate", None;
    ProxyAuthenticate => "Proxy-Authenticate", b"proxy-authenticate", None;
    Require => "Require", b"require", None;
    ProxyRequire => "Proxy-Require", b"proxy-require", None;
    Unsupported => "Unsupported", b"unsupported", None;
    Event => "Event", b"event" | b"o", Some("o");
    AllowEvents => "Allow-Events", b"allow-events" | b"u", Some("u");
    ReferTo => "Refer-To", b"refer-to" | b"r", Some("r");
    ReferredBy => "Referred-By", b"referred-by" | b"b", Some("b");
    ContentEncoding => "Content-Encoding", b"content-encoding" | b"e", Some("e");
    ContentDisposition => "Content-Disposition", b"content-disposition", None;
    SessionExpires => "Session-Expires", b"session-expires" | b"x", Some("x");
    Identity => "Identity", b"identity" | b"y", Some("y");
    AcceptContact => "Accept-Contact", b"accept-contact" | b"a", Some("a");
    RejectContact => "Reject-Contact", b"reject-contact" | b"j", Some("j");
    RequestDisposition => "Request-Disposition", b"request-disposition" | b"d", Some("d");
    Path => "Path", b"path", None;
    ServiceRoute => "Service-Route", b"service-route", None;
    Reason => "Reason", b"reason", None;
    Warning => "Warning", b"warning", None;
    RetryAfter => "Retry-After", b"retry-after", None;
    Timestamp => "Timestamp", b"timestamp", None;
    Rseq => "RSeq", b"rseq", None;
    Rack => "RAck", b"rack", None;
    Privacy => "Privacy", b"privacy", None;
    PAssertedIdentity => "P-Asserted-Identity", b"p-asserted-identity", None;
}

impl HeaderName {
    /// Classify a header name as it appears on the wire.
    pub fn from_bytes(name: &[u8]) -> Self {
        if name.is_empty() || name.len() > MAX_KNOWN {
            return HeaderName::Other;
        }
        let mut buf = [0u8; MAX_KNOWN];
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        HeaderName::from_lowercase(&buf[..name.len()])
    }

    /// True when `wire` names this header (long or compact form, any case). For
    /// [`HeaderName::Other`] this is always false: compare the text instead.
    pub fn matches(self, wire: &[u8]) -> bool {
        self != HeaderName::Other && HeaderName::from_bytes(wire) == self
    }

    /// Headers of which a valid message carries at most one.
    pub const fn is_single(self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::ContentLength
                | HeaderName::ContentType
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True when two header names on the wire denote the same header: equal ignoring case, or
/// long and compact forms of one known header.
pub fn same_header(a: &[u8], b: &[u8]) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let ka = HeaderName::from_bytes(a);
    ka != HeaderName::Other && ka == HeaderName::from_bytes(b)
}

/// One header line located in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Known name, or [`HeaderName::Other`].
    pub name: HeaderName,
    /// The name as written.
    pub name_span: Span,
    /// The value, without surrounding white space; may contain folded line breaks.
    pub value: Span,
    /// The whole line from the first byte of the name to after its line terminator
    /// (including folded continuation lines).
    pub line: Span,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_compact_forms_any_case() {
        assert_eq!(HeaderName::from_bytes(b"Via"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"vIA"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"V"), HeaderName::Via);
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"m"), HeaderName::Contact);
        assert_eq!(HeaderName::from_bytes(b"i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"X-Foo"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"z"), HeaderName::Other);
        assert_eq!(
            HeaderName::from_bytes(b"proxy-authorization"),
            HeaderName::ProxyAuthorization
        );
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
        assert_eq!(HeaderName::CallId.compact(), Some("i"));
    }

    #[test]
    fn same_header_compares_forms() {
        assert!(same_header(b"Call-ID", b"i"));
        assert!(same_header(b"x-foo", b"X-Foo"));
        assert!(!same_header(b"X-Foo", b"X-Bar"));
        assert!(!same_header(b"Via", b"To"));
    }
}
