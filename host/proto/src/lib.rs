//! # sipwasm-proto
//!
//! Sans-IO SIP for the sipwasm router: the message model, a lazy zero-copy parser built on
//! nom over [`bytes::Bytes`], the printer for responses, and stream framing; also the
//! nosip sniffer ([`sniff`]) and the MSRP frame parser ([`msrp`], RFC 4975). No sockets, no
//! clock, no async: everything here is a pure function of its input, which is how the RFC
//! 4475 / RFC 5118 torture corpus runs as unit tests.
//!
//! ```
//! use sipwasm_proto::{SipMessage, Method};
//!
//! let msg = SipMessage::parse(bytes::Bytes::from_static(
//!     b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
//!       Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n\
//!       Max-Forwards: 70\r\n\
//!       To: <sip:carol@chicago.example.com>\r\n\
//!       From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
//!       Call-ID: a84b4c76e66710\r\n\
//!       CSeq: 63104 OPTIONS\r\n\
//!       Content-Length: 0\r\n\r\n",
//! ))
//! .unwrap();
//! assert_eq!(msg.method(), Method::Options);
//! assert_eq!(msg.from().tag(msg.as_bytes()), Some(&b"1928301774"[..]));
//! ```
#![deny(missing_docs)]

pub mod chars;
#[cfg(test)]
mod conformance;
pub mod error;
pub mod framing;
pub mod grammar;
pub mod header;
pub mod message;
pub mod method;
pub mod msrp;
pub mod name_addr;
pub mod reply;
#[cfg(test)]
mod robustness;
pub mod sniff;
pub mod span;
pub mod transport;
pub mod uri;
pub mod values;
pub mod via;

pub use error::{ParseError, Result};
pub use header::{Header, HeaderName};
pub use message::{SipMessage, StartLine};
pub use method::Method;
pub use name_addr::NameAddr;
pub use span::Span;
pub use transport::{Destination, StreamFlags, TlsPeer, Transmit, Transport};
pub use uri::{Scheme, Uri};
pub use via::Via;
