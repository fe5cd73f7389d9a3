//! `hdr`: header lines added, inserted and removed (as lumps, applied when the message
//! goes out), and read.

use crate::context::RouteContext;
use crate::lumps::HdrError;

impl RouteContext {
    /// `hdr.append`
    pub fn hdr_append(&mut self, text: &str) -> Result<(), HdrError> {
        self.header_edits = true;
        self.lumps.append(&self.msg, text)
    }

    /// `hdr.append-after`
    pub fn hdr_append_after(&mut self, text: &str, name: &str) -> Result<(), HdrError> {
        self.header_edits = true;
        self.lumps.append_after(&self.msg, text, name)
    }

    /// `hdr.insert`
    pub fn hdr_insert(&mut self, text: &str) -> Result<(), HdrError> {
        self.header_edits = true;
        self.lumps.insert(&self.msg, text)
    }

    /// `hdr.insert-before`
    pub fn hdr_insert_before(&mut self, text: &str, name: &str) -> Result<(), HdrError> {
        self.header_edits = true;
        self.lumps.insert_before(&self.msg, text, name)
    }

    /// `hdr.remove`
    pub fn hdr_remove(&mut self, name: &str) -> u32 {
        self.header_edits = true;
        self.lumps.remove(&self.msg, name)
    }

    /// `hdr.is-present` (the received message, lumps not applied)
    pub fn hdr_is_present(&self, name: &str) -> bool {
        self.msg.header(name.as_bytes()).is_some()
    }

    /// `hdr.get` (the received message)
    pub fn hdr_get(&self, name: &str) -> Option<String> {
        self.msg
            .header(name.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use crate::context::fixtures::*;

    #[test]
    fn header_lumps_render_on_send() {
        let mut c = ctx();
        c.hdr_append("X-Added: 1").unwrap();
        assert_eq!(c.hdr_remove("X-Multi"), 2);
        assert!(
            c.hdr_is_present("X-Multi"),
            "lumps do not change the received message"
        );
        assert_eq!(c.hdr_get("x-multi").as_deref(), Some("a"));
        let out = SipMessage::parse(Bytes::from(c.rendered())).unwrap();
        assert_eq!(out.header(b"X-Multi"), None);
        assert_eq!(out.header(b"X-Added"), Some(&b"1"[..]));
        assert_eq!(out.body(), b"one:two:six");
    }
}
