//! Byte ranges into a message buffer.
//!
//! Parsed structures keep [`Span`]s instead of copies: the message bytes live once in a
//! shared [`bytes::Bytes`] and every header, URI part or parameter is a range into it.

use std::ops::Range;

/// A half-open byte range `start..end` into some base buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The span that `sub` occupies inside `base`.
    ///
    /// `sub` must be a sub-slice of `base` (the parsers only ever produce such slices);
    /// this is checked in debug builds.
    pub fn within(base: &[u8], sub: &[u8]) -> Self {
        let start = sub.as_ptr() as usize - base.as_ptr() as usize;
        debug_assert!(
            start + sub.len() <= base.len(),
            "slice is not inside its base"
        );
        Span::new(start, start + sub.len())
    }

    /// Length in bytes.
    pub const fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// True for a zero-length span.
    pub const fn is_empty(self) -> bool {
        self.end == self.start
    }

    /// The bytes this span covers in `base`.
    pub fn of<'a>(&self, base: &'a [u8]) -> &'a [u8] {
        &base[self.start as usize..self.end as usize]
    }

    /// As a `usize` range.
    pub const fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// This span moved `by` bytes further into the buffer.
    pub const fn shift(self, by: usize) -> Self {
        Span {
            start: self.start + by as u32,
            end: self.end + by as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_and_of_round_trip() {
        let base = b"INVITE sip:a@b SIP/2.0";
        let sub = &base[7..14];
        let span = Span::within(base, sub);
        assert_eq!(span, Span::new(7, 14));
        assert_eq!(span.of(base), b"sip:a@b");
        assert_eq!(span.len(), 7);
        assert_eq!(span.shift(1).of(base), b"ip:a@b ");
    }
}
