//! Runnable examples of tidings: see `examples/*/main.rs`, run with
//! `cargo run --example NAME` from the workspace root.
