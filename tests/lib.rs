//! Integration tests of sipwasm live in `it/` (one test binary, one module per area).
