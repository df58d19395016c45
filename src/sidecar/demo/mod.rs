//! What the `demo` command and the tests run against instead of the real Obol
//! API: an in-process fake API ([`fake_api`]), throw-away clusters
//! ([`fixture`]) and the local demo that puts them together with N sidecars
//! ([`run_demo`]). Nothing in the production client depends on this folder.

mod board;
pub mod fake_api;
pub mod fixture;
pub mod scenario;

pub use scenario::{DemoError, DemoOptions, DemoReport, NodeReport, run_demo, say};
