//! Why a message was rejected.

use crate::header::HeaderName;

/// The reason a SIP message failed to parse.
///
/// Every variant names what was wrong precisely enough to go into the `Warning` header of
/// the 400 sent back, and the conformance tests check the variant of each torture message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("empty message")]
    Empty,
    /// Larger than the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Bytes seen.
        size: usize,
        /// Configured maximum.
        limit: usize,
    },
    /// The request line is not `Method SP Request-URI SP SIP-Version CRLF`.
    #[error("malformed request line: {0}")]
    RequestLine(&'static str),
    /// The status line is not `SIP-Version SP 3DIGIT SP Reason-Phrase CRLF`.
    #[error("malformed status line: {0}")]
    StatusLine(&'static str),
    /// A well-formed SIP version other than 2.0 (answered with 505).
    #[error("SIP version {0} is not supported")]
    VersionNotSupported(String),
    /// The Request-URI is malformed or not allowed in a request line.
    #[error("invalid Request-URI: {0}")]
    RequestUri(&'static str),
    /// A header line is not `name HCOLON value`.
    #[error("malformed header line: {0}")]
    HeaderLine(&'static str),
    /// A header the router relies on has an invalid value.
    #[error("invalid {header} header: {detail}")]
    Header {
        /// Which header.
        header: HeaderName,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// A single-valued header appears more than once.
    #[error("more than one {0} header")]
    Duplicate(HeaderName),
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    Missing(HeaderName),
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// Content-Length announces more bytes than the datagram holds.
    #[error("Content-Length {declared} exceeds the {available} body bytes received")]
    ContentLengthExceeds {
        /// Value of Content-Length.
        declared: usize,
        /// Body bytes actually present.
        available: usize,
    },
    /// The buffer ends before the empty line that closes the header section.
    #[error("message ends inside the header section")]
    Truncated,
}

impl ParseError {
    /// The status code for a reply to a request that failed this way: 505 for an
    /// unsupported version, 513 for an oversized message, 400 otherwise.
    pub fn reply_code(&self) -> u16 {
        match self {
            ParseError::VersionNotSupported(_) => 505,
            ParseError::TooLarge { .. } => 513,
            _ => 400,
        }
    }

    /// The reason phrase matching [`Self::reply_code`].
    pub fn reply_reason(&self) -> &'static str {
        match self {
            ParseError::VersionNotSupported(_) => "Version Not Supported",
            ParseError::TooLarge { .. } => "Message Too Large",
            _ => "Bad Request",
        }
    }

    /// An invalid-header error.
    pub fn header(header: HeaderName, detail: &'static str) -> Self {
        ParseError::Header { header, detail }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ParseError> = std::result::Result<T, E>;
