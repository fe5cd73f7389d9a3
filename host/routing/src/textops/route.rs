//! The text operations on a SIP message.

use super::{
    MAX_BODY, Subst, TextopsError, check_content_type, content_type_is, multipart_parts, regex,
    replace,
};
use crate::context::RouteContext;
use crate::lumps::{BodyEdit, headers_called};
use sipwasm_proto::header::HeaderName;

fn too_large(len: usize) -> TextopsError {
    TextopsError::TooLarge(format!("a body of {len} bytes (at most {MAX_BODY})"))
}

impl RouteContext {
    /// The body as it will be sent (the received one until a body operation changed it).
    pub fn current_body(&self) -> &[u8] {
        match self.lumps.body() {
            Some(b) => b.body(),
            None => self.msg.body(),
        }
    }

    /// The Content-Type as it will be sent ("" when none).
    pub fn current_content_type(&self) -> String {
        match self.lumps.body().and_then(|b| b.content_type()) {
            Some(ct) => ct.to_string(),
            None => self
                .msg
                .header_of(HeaderName::ContentType)
                .map(|v| String::from_utf8_lossy(v).trim().to_string())
                .unwrap_or_default(),
        }
    }

    /// Replace the body with `body`, keeping the Content-Type unless `content_type` names
    /// one (the one shape every body change goes through).
    pub(crate) fn replace_body_with(
        &mut self,
        body: Vec<u8>,
        content_type: Option<String>,
    ) -> Result<(), TextopsError> {
        if body.len() > MAX_BODY {
            return Err(too_large(body.len()));
        }
        // a body that kept the message's type keeps a type set earlier too
        let content_type = content_type.or_else(|| {
            self.lumps
                .body()
                .and_then(|b| b.content_type().map(str::to_string))
        });
        self.lumps
            .set_body(BodyEdit::new(&self.msg, body, content_type));
        Ok(())
    }

    /// `has_body()` / `has_body(type)`: a non-empty body, of that type or with a part of it
    /// (multipart) when `content_type` is not "".
    pub fn has_body(&self, content_type: &str) -> bool {
        let body = self.current_body();
        if body.is_empty() {
            return false;
        }
        let ct = self.current_content_type();
        content_type_is(&ct, content_type)
            || multipart_parts(&ct, body).is_some_and(|parts| {
                parts
                    .iter()
                    .any(|p| content_type_is(&p.content_type, content_type))
            })
    }

    /// `set_body(body, type)`: a new body; `content_type` "" keeps the message's (a
    /// message without one must be given one).
    pub fn set_body(&mut self, body: &[u8], content_type: &str) -> Result<(), TextopsError> {
        let content_type = if content_type.is_empty() {
            if !body.is_empty() && self.current_content_type().is_empty() {
                return Err(TextopsError::InvalidValue(
                    "the message has no Content-Type: give one with the body".into(),
                ));
            }
            None
        } else {
            check_content_type(content_type)?;
            Some(content_type.to_string())
        };
        self.replace_body_with(body.to_vec(), content_type)
    }

    /// `remove_body()`: no body, no Content-Type, `Content-Length: 0`.
    pub fn remove_body(&mut self) {
        self.lumps
            .set_body(BodyEdit::new(&self.msg, Vec::new(), Some(String::new())));
    }

    /// `set_reply_body(body, type)`: the body of the replies this event sends (`sl`,
    /// `t_reply`).
    pub fn set_reply_body(&mut self, body: &[u8], content_type: &str) -> Result<(), TextopsError> {
        if body.len() > MAX_BODY {
            return Err(too_large(body.len()));
        }
        check_content_type(content_type)?;
        self.reply_body = Some((content_type.to_string(), body.to_vec()));
        Ok(())
    }

    /// The body and Content-Type of local replies, when set.
    pub fn reply_body(&self) -> Option<(&str, &[u8])> {
        self.reply_body
            .as_ref()
            .map(|(ct, b)| (ct.as_str(), b.as_slice()))
    }

    /// `search(re)`: a match in the message as it will be sent, start line to body.
    pub fn search(&self, re: &str) -> Result<bool, TextopsError> {
        let re = regex(re, false, false)?;
        Ok(re.is_match(&self.rendered()))
    }

    /// `search_body(re)`.
    pub fn search_body(&self, re: &str) -> Result<bool, TextopsError> {
        Ok(regex(re, false, false)?.is_match(self.current_body()))
    }

    /// `search_hf(name, re)`: a match in the value of a header called `name` (as
    /// received).
    pub fn search_hf(&self, name: &str, re: &str) -> Result<bool, TextopsError> {
        let re = regex(re, false, false)?;
        Ok(headers_called(&self.msg, name).any(|h| re.is_match(self.msg.text(h.value))))
    }

    /// `replace_body(re, text)` (`all`: `replace_body_all`): how many matches were
    /// replaced by `with`, taken literally.
    pub fn replace_body(&mut self, re: &str, with: &str, all: bool) -> Result<u32, TextopsError> {
        let re = regex(re, false, false)?;
        let (body, n) = replace(&re, self.current_body(), with.as_bytes(), all, MAX_BODY)?;
        if n > 0 {
            self.replace_body_with(body, None)?;
        }
        Ok(n)
    }

    /// `subst_body('/re/repl/flags')`: how many matches were replaced.
    pub fn subst_body(&mut self, expr: &str) -> Result<u32, TextopsError> {
        let subst = Subst::parse(expr)?;
        let (body, n) = subst.apply(self.current_body(), MAX_BODY)?;
        if n > 0 {
            self.replace_body_with(body, None)?;
        }
        Ok(n)
    }

    /// `subst_hf(name, '/re/repl/flags', which)`: substitute in the values of the headers
    /// called `name`: the first (`which` "f" or ""), the last ("l") or all ("a"). Returns
    /// how many values changed. The result must stay one header line.
    pub fn subst_hf(&mut self, name: &str, expr: &str, which: &str) -> Result<u32, TextopsError> {
        let subst = Subst::parse(expr)?;
        let headers: Vec<_> = headers_called(&self.msg, name).cloned().collect();
        let chosen: Vec<_> = match which {
            "" | "f" => headers.first().into_iter().collect(),
            "l" => headers.last().into_iter().collect(),
            "a" => headers.iter().collect(),
            other => {
                return Err(TextopsError::InvalidValue(format!(
                    "{other:?}: expected \"f\", \"l\" or \"a\""
                )));
            }
        };
        let mut edits = Vec::new();
        for h in chosen {
            // a second substitution on a header works on what the first one left
            let current = self
                .lumps
                .replaced(h.value)
                .unwrap_or_else(|| self.msg.text(h.value));
            let (value, n) = subst.apply(current, crate::lumps::MAX_HEADER_TEXT)?;
            if n == 0 {
                continue;
            }
            if value.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0) {
                return Err(TextopsError::InvalidValue(format!(
                    "the new value of {name} would break the header line"
                )));
            }
            edits.push((h.value, value));
        }
        let changed = edits.len() as u32;
        let mut added = 0;
        for (_, v) in &edits {
            crate::lumps::check_added(&mut added, v)
                .map_err(|e| TextopsError::TooLarge(e.to_string()))?;
        }
        for (span, value) in edits {
            self.lumps.replace_span(span, value);
        }
        if changed > 0 {
            self.header_edits = true;
        }
        Ok(changed)
    }

    /// `get_body_part(type)`: the content of the first part of that type of a multipart
    /// body, or the whole body when it is of that type.
    pub fn get_body_part(&self, content_type: &str) -> Option<Vec<u8>> {
        let ct = self.current_content_type();
        let body = self.current_body();
        if let Some(parts) = multipart_parts(&ct, body) {
            return parts
                .into_iter()
                .find(|p| content_type_is(&p.content_type, content_type))
                .map(|p| body[p.content].to_vec());
        }
        (!body.is_empty() && content_type_is(&ct, content_type)).then(|| body.to_vec())
    }

    /// `filter_body(type)`: keep only the part of that type of a multipart body, as the
    /// whole body with its Content-Type. False when there is no such part (nothing
    /// changes).
    pub fn filter_body(&mut self, content_type: &str) -> Result<bool, TextopsError> {
        let ct = self.current_content_type();
        let Some(parts) = multipart_parts(&ct, self.current_body()) else {
            return Ok(false);
        };
        let Some(part) = parts
            .into_iter()
            .find(|p| content_type_is(&p.content_type, content_type))
        else {
            return Ok(false);
        };
        // the part's type came from the network: it must be one before it is a header
        check_content_type(&part.content_type)?;
        let content = self.current_body()[part.content].to_vec();
        self.replace_body_with(content, Some(part.content_type))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::context::RouteContext;
    use sipwasm_proto::SipMessage;

    fn ctx(body: &str, content_type: Option<&str>) -> RouteContext {
        crate::proxy_tests::ctx_with_body(body, content_type)
    }

    fn sent(c: &RouteContext) -> SipMessage {
        let out = c.rendered();
        let head = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let m = SipMessage::parse(bytes::Bytes::from(out.clone())).expect("the result parses");
        // every byte after the headers is the body the Content-Length announces
        assert_eq!(m.content_length(), Some((out.len() - head) as u32));
        m
    }

    #[test]
    fn a_new_body_brings_its_length_and_type() {
        let mut c = ctx("v=0\r\n", Some("application/sdp"));
        assert!(c.has_body("application/sdp"));
        assert!(!c.has_body("text/plain"));
        c.set_body(b"hello there", "text/plain").unwrap();
        let m = sent(&c);
        assert_eq!(m.body(), b"hello there");
        assert_eq!(m.content_length(), Some(11));
        assert_eq!(
            m.headers_named(b"Content-Type").collect::<Vec<_>>(),
            [b"text/plain"]
        );
        assert_eq!(m.headers_named(b"Content-Length").count(), 1);
        // a second change replaces the first whole
        assert_eq!(c.replace_body("there", "world", false).unwrap(), 1);
        assert_eq!(sent(&c).body(), b"hello world");
        assert_eq!(sent(&c).headers_named(b"Content-Type").count(), 1);
        c.remove_body();
        let m = sent(&c);
        assert_eq!(m.body(), b"");
        assert_eq!(m.content_length(), Some(0));
        assert_eq!(m.headers_named(b"Content-Type").count(), 0);
        // a body without a type is refused on a message without one
        let mut bare = ctx("", None);
        assert!(bare.set_body(b"x", "").is_err());
        bare.set_body(b"x", "text/plain").unwrap();
        assert_eq!(sent(&bare).content_length(), Some(1));
        assert!(bare.set_body(b"x", "bad").is_err());
        assert!(
            bare.set_body(&vec![b'x'; super::MAX_BODY + 1], "text/plain")
                .is_err()
        );
    }

    #[test]
    fn body_searches_and_substitutions_chain() {
        let mut c = ctx(
            "c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n",
            Some("application/sdp"),
        );
        assert!(c.search_body("IN IP4 10\\.").unwrap());
        assert!(c.search("(?m)^Subject: hello").unwrap());
        assert!(!c.search_body("IP6").unwrap());
        assert_eq!(c.subst_body("/10\\.0\\.0\\.1/203.0.113.5/").unwrap(), 1);
        assert_eq!(c.subst_body("/4000/5000/").unwrap(), 1);
        let m = sent(&c);
        assert_eq!(
            m.body(),
            b"c=IN IP4 203.0.113.5\r\nm=audio 5000 RTP/AVP 0\r\n"
        );
        assert_eq!(m.content_length(), Some(m.body().len() as u32));
        assert!(c.search("IP4 203.0.113.5").unwrap());
        assert_eq!(c.replace_body("x+", "y", true).unwrap(), 0);
        assert!(c.subst_body("/(/x/").is_err());
    }

    #[test]
    fn header_values_are_substituted_on_one_line() {
        let mut c = ctx("", None);
        assert!(c.search_hf("Subject", "^hello").unwrap());
        assert!(!c.search_hf("Subject", "^nothing").unwrap());
        assert_eq!(c.subst_hf("Subject", "/o/0/g", "a").unwrap(), 2);
        let subjects: Vec<Vec<u8>> = sent(&c)
            .headers_named(b"Subject")
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(subjects, [b"hell0 w0rld".to_vec(), b"sec0nd".to_vec()]);
        let mut c = ctx("", None);
        assert_eq!(c.subst_hf("Subject", "/second/last/", "l").unwrap(), 1);
        let subjects: Vec<Vec<u8>> = sent(&c)
            .headers_named(b"Subject")
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(subjects, [b"hello world".to_vec(), b"last".to_vec()]);
        assert!(c.subst_hf("Subject", "/hello/a\\r\\nX: y/", "f").is_err());
        // two substitutions on one header chain, as on the body
        let mut c = ctx("", None);
        c.subst_hf("Subject", "/hello/hi/", "f").unwrap();
        c.subst_hf("Subject", "/world/earth/", "f").unwrap();
        let first = sent(&c).headers_named(b"Subject").next().unwrap().to_vec();
        assert_eq!(first, b"hi earth");
        assert!(c.subst_hf("Subject", "/a/b/", "z").is_err());
    }

    #[test]
    fn multipart_parts_are_read_and_kept() {
        let body = "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b1\r\nContent-Type: application/isup\r\n\r\nxyz\r\n--b1--\r\n";
        let mut c = ctx(body, Some("multipart/mixed;boundary=b1"));
        assert!(c.has_body("application/isup"));
        assert_eq!(c.get_body_part("application/sdp").unwrap(), b"v=0\r\n");
        assert_eq!(c.get_body_part("application/isup").unwrap(), b"xyz");
        assert!(c.get_body_part("text/plain").is_none());
        assert!(!c.filter_body("text/plain").unwrap());
        assert!(c.filter_body("application/sdp").unwrap());
        let m = sent(&c);
        assert_eq!(m.body(), b"v=0\r\n");
        assert_eq!(
            m.headers_named(b"Content-Type").collect::<Vec<_>>(),
            [b"application/sdp"]
        );
        assert!(!c.filter_body("application/sdp").unwrap());
        // a part whose type would smuggle a header is refused, not made the message's
        let evil =
            "--b1\r\nContent-Type: application/sdp;x=\nX-Evil: 1\r\n\r\nv=0\r\n\r\n--b1--\r\n";
        let mut c = ctx(evil, Some("multipart/mixed;boundary=b1"));
        assert!(c.filter_body("application/sdp").is_err());
        assert_eq!(sent(&c).headers_named(b"X-Evil").count(), 0);
    }
}
