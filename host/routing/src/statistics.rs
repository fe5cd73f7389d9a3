//! Counters a plugin defines for itself (Kamailio's `statistics` module): named, created
//! by their first update, shared by every event of the tenant, shown in `/metrics` and
//! `ctl stats`. Bounded so a plugin cannot grow host memory: 256 names of at most 64
//! characters.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Most counters of one tenant.
pub const MAX_STATS: usize = 256;
/// Longest name.
pub const MAX_NAME: usize = 64;

/// Why a counter was refused; mirrors the WIT `statistics.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatError {
    /// Not 1-64 characters of `a-z`, `0-9`, `_`.
    #[error("invalid statistic name {0:?}: 1-64 characters of a-z, 0-9, _")]
    InvalidName(String),
    /// The tenant has [`MAX_STATS`] already.
    #[error("{0:?}: the tenant has {MAX_STATS} statistics already")]
    TooMany(String),
}

/// One tenant's counters.
#[derive(Debug, Default)]
pub struct Statistics {
    values: Mutex<BTreeMap<String, i64>>,
}

fn check(name: &str) -> Result<(), StatError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(StatError::InvalidName(name.chars().take(80).collect()))
    }
}

impl Statistics {
    /// Add `by` to `name` (created at 0); the new value.
    pub fn update(&self, name: &str, by: i64) -> Result<i64, StatError> {
        check(name)?;
        let mut values = crate::lock(&self.values);
        if !values.contains_key(name) && values.len() >= MAX_STATS {
            return Err(StatError::TooMany(name.to_string()));
        }
        let v = values.entry(name.to_string()).or_default();
        *v = v.wrapping_add(by);
        Ok(*v)
    }

    /// Set `name` back to 0 (it stays listed).
    pub fn reset(&self, name: &str) -> Result<(), StatError> {
        check(name)?;
        if let Some(v) = crate::lock(&self.values).get_mut(name) {
            *v = 0;
        }
        Ok(())
    }

    /// The value of `name`, 0 when never updated.
    pub fn get(&self, name: &str) -> Result<i64, StatError> {
        check(name)?;
        Ok(crate::lock(&self.values).get(name).copied().unwrap_or(0))
    }

    /// Every counter, by name.
    pub fn snapshot(&self) -> BTreeMap<String, i64> {
        crate::lock(&self.values).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_name_bounded() {
        let s = Statistics::default();
        assert_eq!(s.update("calls_in", 1), Ok(1));
        assert_eq!(s.update("calls_in", 2), Ok(3));
        assert_eq!(s.update("active", -1), Ok(-1));
        assert_eq!(s.get("calls_in"), Ok(3));
        assert_eq!(s.get("never"), Ok(0));
        s.reset("calls_in").unwrap();
        assert_eq!(s.get("calls_in"), Ok(0));
        assert_eq!(s.snapshot().len(), 2, "never-updated names are not created");
        for bad in ["", "Calls", "a-b", &"x".repeat(65)] {
            assert!(
                matches!(s.update(bad, 1), Err(StatError::InvalidName(_))),
                "{bad}"
            );
        }
        for i in 0..MAX_STATS - 2 {
            s.update(&format!("n{i}"), 1).unwrap();
        }
        assert_eq!(
            s.update("one_more", 1),
            Err(StatError::TooMany("one_more".into()))
        );
        assert_eq!(s.update("calls_in", 1), Ok(1), "existing ones still count");
    }
}
