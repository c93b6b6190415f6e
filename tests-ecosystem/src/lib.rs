//! Empty: this package exists for its integration tests (`tests/`), which use corio together
//! with third-party crates. See its Cargo.toml for why they are not the root crate's tests.
