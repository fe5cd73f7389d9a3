//! The pseudo-variable value, as Kamailio's `pv_value_t`: one type on both sides of the
//! `pv` WIT interface, so the router and the Rust SDK read, print and convert a value the
//! same way.

use std::fmt;

/// A pseudo-variable value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `$null`: what the name refers to is absent.
    Null,
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
}

impl Value {
    /// A string value from message bytes (invalid UTF-8 replaced, as the WIT interface
    /// carries strings).
    pub fn bytes(b: &[u8]) -> Value {
        Value::Str(String::from_utf8_lossy(b).into_owned())
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer or a string holding one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Null => None,
        }
    }

    /// The string form: integers in decimal, `$null` as `None`.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(i.to_string()),
            Value::Str(s) => Some(s.clone()),
        }
    }

    /// True for `$null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl fmt::Display for Value {
    /// As xlog prints it: `<null>` for `$null`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("<null>"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn reads_and_prints_as_kamailio_does() {
        assert_eq!(Value::from(" 42 ").as_int(), Some(42));
        assert_eq!(Value::from("4x").as_int(), None);
        assert_eq!(Value::Null.to_text(), None);
        assert_eq!(Value::Int(-3).to_text().as_deref(), Some("-3"));
        assert_eq!(Value::Null.to_string(), "<null>");
        assert_eq!(Value::bytes(b"a\xffb").as_str(), Some("a\u{fffd}b"));
    }
}
