//! Pseudo-variable values: one type, shared with the Rust SDK (`sipwasm-value`).

pub use sipwasm_value::Value;
