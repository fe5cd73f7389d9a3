//! SDP operations on the message's body: an `application/sdp` body, or the
//! `application/sdp` part of a multipart one (edited in place, the other parts kept).

use super::{Codec, Sdp, SdpError, parse_ids, parse_names};
use crate::context::RouteContext;
use crate::textops::{content_type_is, multipart_parts};
use std::ops::Range;

impl RouteContext {
    /// The SDP of the body as it stands, and where it is in a multipart body.
    fn sdp(&self) -> Result<(Sdp, Option<Range<usize>>), SdpError> {
        let body = self.current_body();
        if body.is_empty() {
            return Err(SdpError::NoSdp);
        }
        let ct = self.current_content_type();
        if content_type_is(&ct, "application/sdp") {
            return Ok((Sdp::parse(body)?, None));
        }
        let part = multipart_parts(&ct, body)
            .and_then(|parts| {
                parts
                    .into_iter()
                    .find(|p| content_type_is(&p.content_type, "application/sdp"))
            })
            .ok_or(SdpError::NoSdp)?;
        Ok((Sdp::parse(&body[part.content.clone()])?, Some(part.content)))
    }

    /// Apply `edit` to the SDP; when it reports a change, the body becomes the result.
    fn edit_sdp<T>(
        &mut self,
        edit: impl FnOnce(&mut Sdp) -> Result<T, SdpError>,
        changed: impl FnOnce(&T) -> bool,
    ) -> Result<T, SdpError> {
        let (mut sdp, part) = self.sdp()?;
        let result = edit(&mut sdp)?;
        if changed(&result) {
            let text = sdp.to_bytes();
            let body = match part {
                None => text,
                Some(range) => {
                    let old = self.current_body();
                    [&old[..range.start], &text, &old[range.end..]].concat()
                }
            };
            self.replace_body_with(body, None)
                .map_err(|e| SdpError::InvalidSdp(e.to_string()))?;
        }
        Ok(result)
    }

    /// `sdp_content()`: the message carries an SDP.
    pub fn sdp_content(&self) -> bool {
        self.sdp().is_ok()
    }

    /// `sdp_with_media(type)`.
    pub fn sdp_with_media(&self, media: &str) -> Result<bool, SdpError> {
        Ok(self.sdp()?.0.with_media(media))
    }

    /// `sdp_with_codecs_by_name(list)`.
    pub fn sdp_with_codecs_by_name(&self, names: &str) -> Result<bool, SdpError> {
        let names = parse_names(names)?;
        Ok(self.sdp()?.0.with_codecs_by_name(&names))
    }

    /// `sdp_with_codecs_by_id(list)`.
    pub fn sdp_with_codecs_by_id(&self, ids: &str) -> Result<bool, SdpError> {
        let ids = parse_ids(ids)?;
        Ok(self.sdp()?.0.with_codecs_by_id(&ids))
    }

    /// Every codec of every stream.
    pub fn sdp_codecs(&self) -> Result<Vec<Codec>, SdpError> {
        Ok(self.sdp()?.0.codecs())
    }

    /// `sdp_remove_codecs_by_name(list)`: how many went.
    pub fn sdp_remove_codecs_by_name(&mut self, names: &str) -> Result<u32, SdpError> {
        let names = parse_names(names)?;
        self.edit_sdp(|s| Ok(s.remove_codecs_by_name(&names)), |n| *n > 0)
    }

    /// `sdp_remove_codecs_by_id(list)`.
    pub fn sdp_remove_codecs_by_id(&mut self, ids: &str) -> Result<u32, SdpError> {
        let ids = parse_ids(ids)?;
        self.edit_sdp(|s| Ok(s.remove_codecs_by_id(&ids)), |n| *n > 0)
    }

    /// `sdp_keep_codecs_by_name(list, media)`: how many others went.
    pub fn sdp_keep_codecs_by_name(&mut self, names: &str, media: &str) -> Result<u32, SdpError> {
        let names = parse_names(names)?;
        self.edit_sdp(|s| s.keep_codecs_by_name(&names, media), |n| *n > 0)
    }

    /// `sdp_keep_codecs_by_id(list, media)`.
    pub fn sdp_keep_codecs_by_id(&mut self, ids: &str, media: &str) -> Result<u32, SdpError> {
        let ids = parse_ids(ids)?;
        self.edit_sdp(|s| s.keep_codecs_by_id(&ids, media), |n| *n > 0)
    }

    /// `sdp_remove_media(type)`: how many streams went.
    pub fn sdp_remove_media(&mut self, media: &str) -> Result<u32, SdpError> {
        self.edit_sdp(|s| s.remove_media(media), |n| *n > 0)
    }

    /// Every `c=` line to `ip` (nathelper's `fix_nated_sdp` flag 2): how many changed.
    pub fn sdp_set_connection_address(&mut self, ip: &str) -> Result<u32, SdpError> {
        self.edit_sdp(|s| s.set_connection_address(ip), |n| *n > 0)
    }

    /// The `o=` address to `ip` (`fix_nated_sdp` flag 8).
    pub fn sdp_set_origin_address(&mut self, ip: &str) -> Result<bool, SdpError> {
        self.edit_sdp(|s| s.set_origin_address(ip), |changed| *changed)
    }
}

#[cfg(test)]
mod tests {
    use crate::context::RouteContext;
    use crate::sdpops::SdpError;
    use sipwasm_proto::SipMessage;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

    fn ctx(body: &str, content_type: &str) -> RouteContext {
        crate::proxy_tests::ctx_with_body(body, Some(content_type))
    }

    fn sent_body(c: &RouteContext) -> String {
        let raw = c.rendered();
        let head = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let m = SipMessage::parse(bytes::Bytes::from(raw.clone())).unwrap();
        // (the parser cuts a body to its Content-Length: count the bytes after the headers)
        assert_eq!(m.content_length(), Some((raw.len() - head) as u32));
        String::from_utf8(m.body().to_vec()).unwrap()
    }

    #[test]
    fn an_sdp_body_is_edited_and_its_length_follows() {
        let mut c = ctx(SDP, "application/sdp");
        assert!(c.sdp_content());
        assert!(c.sdp_with_media("audio").unwrap());
        assert!(c.sdp_with_codecs_by_name("PCMA").unwrap());
        assert_eq!(c.sdp_remove_codecs_by_name("PCMU").unwrap(), 1);
        assert_eq!(c.sdp_set_connection_address("203.0.113.7").unwrap(), 1);
        assert!(c.sdp_set_origin_address("203.0.113.7").unwrap());
        let body = sent_body(&c);
        assert!(body.contains("m=audio 4000 RTP/AVP 8 101\r\n"), "{body}");
        assert!(body.contains("c=IN IP4 203.0.113.7\r\n"));
        assert!(body.contains("o=- 1 1 IN IP4 203.0.113.7\r\n"));
        // the edits chain on the body as changed
        assert!(!c.sdp_with_codecs_by_name("PCMU").unwrap());
        assert_eq!(
            c.sdp_codecs()
                .unwrap()
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["PCMA", "telephone-event"]
        );
        assert_eq!(c.sdp_remove_codecs_by_id("0").unwrap(), 0);
    }

    #[test]
    fn the_sdp_part_of_a_multipart_body_is_edited_in_place() {
        let body = format!(
            "--b1\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--b1\r\nContent-Type: application/isup\r\n\r\nxyz\r\n--b1--\r\n"
        );
        let mut c = ctx(&body, "multipart/mixed;boundary=b1");
        assert_eq!(c.sdp_keep_codecs_by_name("PCMU", "audio").unwrap(), 2);
        let sent = sent_body(&c);
        assert!(sent.contains("m=audio 4000 RTP/AVP 0\r\n"), "{sent}");
        assert!(!sent.contains("telephone-event"));
        assert!(
            sent.ends_with("\r\n--b1\r\nContent-Type: application/isup\r\n\r\nxyz\r\n--b1--\r\n")
        );
        assert_eq!(c.get_body_part("application/isup").unwrap(), b"xyz");
    }

    #[test]
    fn no_sdp_is_an_error_not_a_change() {
        let mut c = ctx("hello", "text/plain");
        assert!(!c.sdp_content());
        assert_eq!(c.sdp_remove_codecs_by_name("PCMU"), Err(SdpError::NoSdp));
        let mut c = ctx("v=0\r\nbroken\r\n", "application/sdp");
        assert!(matches!(
            c.sdp_remove_media("video"),
            Err(SdpError::InvalidSdp(_))
        ));
        assert!(c.lumps().body().is_none());
        let mut c = ctx(SDP, "application/sdp");
        assert!(matches!(
            c.sdp_remove_codecs_by_name(""),
            Err(SdpError::InvalidArgument(_))
        ));
    }
}
