//! Pseudo-variable values.

use std::fmt;

/// A pseudo-variable value, as Kamailio's `pv_value_t`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `$null`
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

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
