//! SDP edits (Kamailio's `sdpops` module, and the c=/o= rewrite of nathelper's
//! `fix_nated_sdp`): codecs listed, removed or kept by name or payload type, media
//! streams tested or removed, connection and origin addresses rewritten.
//!
//! Edits are line by line, as Kamailio's: every line the edit does not touch goes out as
//! it came (no re-serialisation that would reorder attributes or drop unknown ones). A
//! stream left with no codec is rejected the RFC 3264 way (port 0), keeping one format so
//! the `m=` line stays well-formed. This module is pure; `route` applies it to the body
//! of the message.

use std::net::IpAddr;

mod route;

/// Largest SDP edited (a body over it is refused rather than copied around).
pub const MAX_SDP: usize = 64 * 1024;

/// Why an SDP operation failed; mirrors the WIT `sdpops.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The message has no SDP body (nor an `application/sdp` part).
    #[error("no SDP in the message")]
    NoSdp,
    /// The SDP does not parse.
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    /// A bad argument (codec list, media type, address).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The event has no SIP message.
    #[error("no SIP message in this event")]
    NoMessage,
}

/// One codec of one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Codec {
    /// The stream's media type (`audio`, `video` ...).
    pub media: String,
    /// Payload type.
    pub id: u32,
    /// Encoding name (`PCMU`, `opus` ...), "" when unknown.
    pub name: String,
    /// Clock rate, 0 when unknown.
    pub clock_rate: u32,
}

/// RFC 3551's static payload types: (id, name, clock rate).
const STATIC_TYPES: &[(u32, &str, u32)] = &[
    (0, "PCMU", 8000),
    (3, "GSM", 8000),
    (4, "G723", 8000),
    (5, "DVI4", 8000),
    (6, "DVI4", 16000),
    (7, "LPC", 8000),
    (8, "PCMA", 8000),
    (9, "G722", 8000),
    (10, "L16", 44100),
    (11, "L16", 44100),
    (12, "QCELP", 8000),
    (13, "CN", 8000),
    (14, "MPA", 90000),
    (15, "G728", 8000),
    (16, "DVI4", 11025),
    (17, "DVI4", 22050),
    (18, "G729", 8000),
    (25, "CelB", 90000),
    (26, "JPEG", 90000),
    (28, "nv", 90000),
    (31, "H261", 90000),
    (32, "MPV", 90000),
    (33, "MP2T", 90000),
    (34, "H263", 90000),
];

/// An SDP as lines (without their line ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    lines: Vec<String>,
}

/// One `m=` section: its line and the lines up to the next.
struct Media {
    /// Index of the `m=` line.
    at: usize,
    /// One past its last line.
    end: usize,
}

/// The parts of an `m=` line.
struct MLine<'a> {
    media: &'a str,
    port: &'a str,
    proto: &'a str,
    formats: Vec<&'a str>,
}

fn parse_mline(line: &str) -> Option<MLine<'_>> {
    let mut w = line
        .strip_prefix("m=")?
        .split(' ')
        .filter(|w| !w.is_empty());
    Some(MLine {
        media: w.next()?,
        port: w.next()?,
        proto: w.next()?,
        formats: w.collect(),
    })
}

/// The payload type an `a=rtpmap:`, `a=fmtp:` or `a=rtcp-fb:` line is about.
fn attribute_format(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("a=rtpmap:")
        .or_else(|| line.strip_prefix("a=fmtp:"))
        .or_else(|| line.strip_prefix("a=rtcp-fb:"))?;
    rest.split(' ').next()
}

/// A comma-separated list of codec names (case ignored).
pub fn parse_names(list: &str) -> Result<Vec<String>, SdpError> {
    let names: Vec<String> = list
        .split(',')
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() || names.iter().any(|n| n.contains([' ', '/', '='])) {
        return Err(SdpError::InvalidArgument(format!(
            "{list:?}: expected names separated by commas"
        )));
    }
    Ok(names)
}

/// A comma-separated list of payload types.
pub fn parse_ids(list: &str) -> Result<Vec<u32>, SdpError> {
    let ids: Result<Vec<u32>, _> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::parse::<u32>)
        .collect();
    match ids {
        Ok(ids) if !ids.is_empty() && ids.iter().all(|&i| i <= 127) => Ok(ids),
        _ => Err(SdpError::InvalidArgument(format!(
            "{list:?}: expected payload types 0-127 separated by commas"
        ))),
    }
}

/// A media type argument: "" for every stream.
fn check_media(media: &str) -> Result<(), SdpError> {
    if media
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        Ok(())
    } else {
        Err(SdpError::InvalidArgument(format!("media type {media:?}")))
    }
}

impl Sdp {
    /// Parse `body`: lines of `x=value` starting with `v=`, CRLF or LF ended.
    pub fn parse(body: &[u8]) -> Result<Sdp, SdpError> {
        if body.len() > MAX_SDP {
            return Err(SdpError::InvalidSdp(format!(
                "{} bytes (at most {MAX_SDP})",
                body.len()
            )));
        }
        let text =
            std::str::from_utf8(body).map_err(|_| SdpError::InvalidSdp("not UTF-8 text".into()))?;
        let mut lines: Vec<String> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
            .collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        if !lines.first().is_some_and(|l| l.starts_with("v=")) {
            return Err(SdpError::InvalidSdp("it does not start with v=".into()));
        }
        for (i, l) in lines.iter().enumerate() {
            let b = l.as_bytes();
            if b.len() < 2 || !b[0].is_ascii_lowercase() || b[1] != b'=' || l.contains('\r') {
                return Err(SdpError::InvalidSdp(format!("line {}: {l:?}", i + 1)));
            }
            if l.starts_with("m=") && parse_mline(l).is_none() {
                return Err(SdpError::InvalidSdp(format!("line {}: {l:?}", i + 1)));
            }
        }
        Ok(Sdp { lines })
    }

    /// The SDP as text, each line CRLF-ended (RFC 4566).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.len() + 2).sum());
        for l in &self.lines {
            out.extend_from_slice(l.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn media(&self) -> Vec<Media> {
        let starts: Vec<usize> = (0..self.lines.len())
            .filter(|&i| self.lines[i].starts_with("m="))
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(n, &at)| Media {
                at,
                end: starts.get(n + 1).copied().unwrap_or(self.lines.len()),
            })
            .collect()
    }

    /// The name and clock rate of payload type `pt` in the section `m`.
    fn describe(&self, m: &Media, pt: &str) -> (String, u32) {
        let prefix = format!("a=rtpmap:{pt} ");
        if let Some(map) = self.lines[m.at + 1..m.end]
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
        {
            let mut parts = map.trim().split('/');
            let name = parts.next().unwrap_or("").to_string();
            let rate = parts.next().and_then(|r| r.parse().ok()).unwrap_or(0);
            return (name, rate);
        }
        pt.parse::<u32>()
            .ok()
            .and_then(|id| STATIC_TYPES.iter().find(|s| s.0 == id))
            .map_or((String::new(), 0), |s| (s.1.to_string(), s.2))
    }

    /// Every codec of every stream, in order (`sdp_list_codecs`-like).
    pub fn codecs(&self) -> Vec<Codec> {
        let mut out = Vec::new();
        for m in self.media() {
            let Some(ml) = parse_mline(&self.lines[m.at]) else {
                continue;
            };
            if ml.port == "0" {
                continue;
            }
            for f in &ml.formats {
                let Ok(id) = f.parse::<u32>() else { continue };
                let (name, clock_rate) = self.describe(&m, f);
                out.push(Codec {
                    media: ml.media.to_string(),
                    id,
                    name,
                    clock_rate,
                });
            }
        }
        out
    }

    /// The media types of the streams, in order (`m=` lines).
    pub fn media_types(&self) -> Vec<String> {
        self.media()
            .iter()
            .filter_map(|m| parse_mline(&self.lines[m.at]).map(|ml| ml.media.to_string()))
            .collect()
    }

    /// `sdp_with_media(type)`: a stream of that type.
    pub fn with_media(&self, media: &str) -> bool {
        self.media_types()
            .iter()
            .any(|t| t.eq_ignore_ascii_case(media))
    }

    /// `sdp_with_codecs_by_name(list)`: one of the codecs is offered.
    pub fn with_codecs_by_name(&self, names: &[String]) -> bool {
        self.codecs()
            .iter()
            .any(|c| names.iter().any(|n| n.eq_ignore_ascii_case(&c.name)))
    }

    /// `sdp_with_codecs_by_id(list)`.
    pub fn with_codecs_by_id(&self, ids: &[u32]) -> bool {
        self.codecs().iter().any(|c| ids.contains(&c.id))
    }

    /// Remove the codecs `drop` picks from the streams of type `media` ("" any): from the
    /// `m=` line with their `rtpmap`, `fmtp` and `rtcp-fb` lines. Returns how many went. A
    /// stream left with none is rejected (port 0).
    fn remove_codecs(&mut self, media: &str, drop: impl Fn(&Codec) -> bool) -> u32 {
        let mut removed = 0;
        let sections = self.media();
        // back to front: removing lines keeps the earlier sections' indices
        for m in sections.iter().rev() {
            let line = self.lines[m.at].clone();
            let Some(ml) = parse_mline(&line) else {
                continue;
            };
            if !media.is_empty() && !ml.media.eq_ignore_ascii_case(media) {
                continue;
            }
            let mut gone: Vec<&str> = Vec::new();
            let mut kept: Vec<&str> = Vec::new();
            for f in &ml.formats {
                let codec = f.parse::<u32>().ok().map(|id| {
                    let (name, clock_rate) = self.describe(m, f);
                    Codec {
                        media: ml.media.to_string(),
                        id,
                        name,
                        clock_rate,
                    }
                });
                if codec.as_ref().is_some_and(&drop) {
                    gone.push(f);
                } else {
                    kept.push(f);
                }
            }
            if gone.is_empty() {
                continue;
            }
            removed += gone.len() as u32;
            let (port, formats) = if kept.is_empty() {
                ("0", vec![gone[0]])
            } else {
                (ml.port, kept)
            };
            self.lines[m.at] =
                format!("m={} {} {} {}", ml.media, port, ml.proto, formats.join(" "));
            let mut i = m.end;
            while i > m.at + 1 {
                i -= 1;
                if attribute_format(&self.lines[i]).is_some_and(|f| gone.contains(&f)) {
                    self.lines.remove(i);
                }
            }
        }
        removed
    }

    /// `sdp_remove_codecs_by_name(list)`: from every stream.
    pub fn remove_codecs_by_name(&mut self, names: &[String]) -> u32 {
        self.remove_codecs("", |c| {
            names.iter().any(|n| n.eq_ignore_ascii_case(&c.name))
        })
    }

    /// `sdp_remove_codecs_by_id(list)`.
    pub fn remove_codecs_by_id(&mut self, ids: &[u32]) -> u32 {
        self.remove_codecs("", |c| ids.contains(&c.id))
    }

    /// `sdp_keep_codecs_by_name(list, media)`: only these in the streams of type
    /// `media` ("" every stream).
    pub fn keep_codecs_by_name(&mut self, names: &[String], media: &str) -> Result<u32, SdpError> {
        check_media(media)?;
        Ok(self.remove_codecs(media, |c| {
            !names.iter().any(|n| n.eq_ignore_ascii_case(&c.name))
        }))
    }

    /// `sdp_keep_codecs_by_id(list, media)`.
    pub fn keep_codecs_by_id(&mut self, ids: &[u32], media: &str) -> Result<u32, SdpError> {
        check_media(media)?;
        Ok(self.remove_codecs(media, |c| !ids.contains(&c.id)))
    }

    /// `sdp_remove_media(type)`: the streams of that type, whole; how many.
    pub fn remove_media(&mut self, media: &str) -> Result<u32, SdpError> {
        check_media(media)?;
        if media.is_empty() {
            return Err(SdpError::InvalidArgument("empty media type".into()));
        }
        let mut removed = 0;
        for m in self.media().iter().rev() {
            if parse_mline(&self.lines[m.at]).is_some_and(|ml| ml.media.eq_ignore_ascii_case(media))
            {
                self.lines.drain(m.at..m.end);
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every `c=` line (session and streams) to `ip`; how many changed.
    pub fn set_connection_address(&mut self, ip: &str) -> Result<u32, SdpError> {
        let (family, addr) = address(ip)?;
        let mut n = 0;
        for l in &mut self.lines {
            if l.starts_with("c=IN ") {
                let new = format!("c=IN {family} {addr}");
                if *l != new {
                    *l = new;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// The `o=` line's address to `ip`; true when there is one.
    pub fn set_origin_address(&mut self, ip: &str) -> Result<bool, SdpError> {
        let (family, addr) = address(ip)?;
        let Some(l) = self.lines.iter_mut().find(|l| l.starts_with("o=")) else {
            return Ok(false);
        };
        let fields: Vec<&str> = l[2..].split(' ').collect();
        if fields.len() != 6 {
            return Err(SdpError::InvalidSdp(format!("o= line {l:?}")));
        }
        *l = format!(
            "o={} {} {} IN {family} {addr}",
            fields[0], fields[1], fields[2]
        );
        Ok(true)
    }
}

/// `("IP4", "192.0.2.1")` or `("IP6", "2001:db8::1")` for an address argument.
fn address(ip: &str) -> Result<(&'static str, String), SdpError> {
    let parsed: IpAddr = ip
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| SdpError::InvalidArgument(format!("{ip:?} is not an IP address")))?;
    Ok(match parsed {
        IpAddr::V4(a) => ("IP4", a.to_string()),
        IpAddr::V6(a) => ("IP6", a.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offer as PJSIP sends it (trimmed).
    const OFFER: &str = "v=0\r\n\
o=- 3919417436 3919417436 IN IP4 192.168.1.20\r\n\
s=pjmedia\r\n\
b=AS:117\r\n\
t=0 0\r\n\
a=X-nat:0\r\n\
m=audio 4000 RTP/AVP 96 9 8 0 101\r\n\
c=IN IP4 192.168.1.20\r\n\
b=TIAS:96000\r\n\
a=rtcp:4001 IN IP4 192.168.1.20\r\n\
a=sendrecv\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
m=video 4002 RTP/AVP 97\r\n\
c=IN IP4 192.168.1.20\r\n\
a=rtpmap:97 H264/90000\r\n\
a=fmtp:97 profile-level-id=42e01f\r\n\
a=rtcp-fb:97 nack\r\n";

    fn sdp() -> Sdp {
        Sdp::parse(OFFER.as_bytes()).unwrap()
    }

    fn names(s: &Sdp) -> Vec<String> {
        s.codecs().into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn codecs_and_media_are_listed() {
        let s = sdp();
        assert_eq!(
            names(&s),
            ["opus", "G722", "PCMA", "PCMU", "telephone-event", "H264"]
        );
        let c = &s.codecs()[0];
        assert_eq!((c.media.as_str(), c.id, c.clock_rate), ("audio", 96, 48000));
        assert_eq!(s.media_types(), ["audio", "video"]);
        assert!(s.with_media("VIDEO"));
        assert!(!s.with_media("image"));
        assert!(s.with_codecs_by_name(&parse_names("g729, pcmu").unwrap()));
        assert!(!s.with_codecs_by_name(&parse_names("G729").unwrap()));
        assert!(s.with_codecs_by_id(&[97]));
        // static types need no rtpmap
        let bare = Sdp::parse(b"v=0\r\nm=audio 5000 RTP/AVP 0 18\r\n").unwrap();
        assert_eq!(names(&bare), ["PCMU", "G729"]);
        // the round trip keeps every line
        assert_eq!(s.to_bytes(), OFFER.as_bytes());
    }

    #[test]
    fn removing_codecs_takes_their_attributes_and_nothing_else() {
        let mut s = sdp();
        assert_eq!(
            s.remove_codecs_by_name(&parse_names("opus,PCMU").unwrap()),
            2
        );
        let text = String::from_utf8(s.to_bytes()).unwrap();
        assert!(text.contains("m=audio 4000 RTP/AVP 9 8 101\r\n"), "{text}");
        assert!(!text.contains("opus") && !text.contains("useinbandfec"));
        assert!(!text.contains("a=rtpmap:0 "));
        assert!(text.contains("a=fmtp:101 0-16\r\n"));
        assert!(text.contains("a=rtcp:4001 IN IP4 192.168.1.20\r\n"));
        assert_eq!(s.remove_codecs_by_id(&[97]), 1);
        let text = String::from_utf8(s.to_bytes()).unwrap();
        // a stream with no codec left is rejected, still well-formed
        assert!(text.contains("m=video 0 RTP/AVP 97\r\n"), "{text}");
        assert!(!text.contains("H264") && !text.contains("nack"));
        assert_eq!(s.remove_codecs_by_id(&[3]), 0);
    }

    #[test]
    fn keeping_codecs_applies_to_the_media_named() {
        let mut s = sdp();
        let kept = s
            .keep_codecs_by_name(&parse_names("PCMA,telephone-event").unwrap(), "audio")
            .unwrap();
        assert_eq!(kept, 3);
        assert_eq!(names(&s), ["PCMA", "telephone-event", "H264"]);
        let mut s = sdp();
        s.keep_codecs_by_id(&[0], "").unwrap();
        assert_eq!(names(&s), ["PCMU"]);
        assert!(s.keep_codecs_by_id(&[0], "a b").is_err());
    }

    #[test]
    fn media_streams_are_removed_whole() {
        let mut s = sdp();
        assert_eq!(s.remove_media("video").unwrap(), 1);
        let text = String::from_utf8(s.to_bytes()).unwrap();
        assert!(text.ends_with("a=fmtp:101 0-16\r\n"), "{text}");
        assert_eq!(s.remove_media("video").unwrap(), 0);
        assert!(s.remove_media("").is_err());
    }

    #[test]
    fn addresses_are_rewritten() {
        let mut s = sdp();
        assert_eq!(s.set_connection_address("203.0.113.9").unwrap(), 2);
        assert!(s.set_origin_address("203.0.113.9").unwrap());
        let text = String::from_utf8(s.to_bytes()).unwrap();
        assert!(text.contains("o=- 3919417436 3919417436 IN IP4 203.0.113.9\r\n"));
        assert_eq!(text.matches("c=IN IP4 203.0.113.9\r\n").count(), 2);
        // the rtcp attribute is not a connection line
        assert!(text.contains("a=rtcp:4001 IN IP4 192.168.1.20"));
        assert_eq!(s.set_connection_address("[2001:db8::5]").unwrap(), 2);
        let text = String::from_utf8(s.to_bytes()).unwrap();
        assert!(text.contains("c=IN IP6 2001:db8::5\r\n"));
        assert!(s.set_connection_address("example.com").is_err());
    }

    #[test]
    fn broken_sdp_and_arguments_are_refused() {
        assert!(Sdp::parse(b"o=- 1 1 IN IP4 1.2.3.4\r\n").is_err());
        assert!(Sdp::parse(b"v=0\r\nnot a line\r\n").is_err());
        assert!(Sdp::parse(b"v=0\r\nm=audio\r\n").is_err());
        assert!(Sdp::parse(&[0xff, 0xfe]).is_err());
        assert!(Sdp::parse(&vec![b'a'; MAX_SDP + 1]).is_err());
        // LF-only input is accepted and sent back CRLF
        let s = Sdp::parse(b"v=0\nm=audio 1 RTP/AVP 0\n").unwrap();
        assert_eq!(s.to_bytes(), b"v=0\r\nm=audio 1 RTP/AVP 0\r\n");
        assert!(parse_names("").is_err());
        assert!(parse_names("a b").is_err());
        assert_eq!(parse_ids(" 0, 8 ,101").unwrap(), [0, 8, 101]);
        assert!(parse_ids("x").is_err());
        assert!(parse_ids("128").is_err());
    }
}
