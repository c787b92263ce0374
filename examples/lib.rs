//! Runnable examples of tidings. Each example's routes live in a module here, so that the tests
//! serve exactly what `cargo run --example NAME` serves.

#[path = "clock/app.rs"]
pub mod clock;

#[path = "dashboard/app.rs"]
pub mod dashboard;
