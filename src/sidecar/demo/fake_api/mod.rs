//! An in-process Obol API for tests and the demo, bound to 127.0.0.1 only.
//!
//! It follows the endpoints and payloads of the real API as specified in
//! `shared/spec/obol-api-and-sidecar.md` §1 and §6.1: paged operator listings
//! (`{cluster_definitions, total_count, total_pages}`, newest first, 0- or
//! 1-based), fetch by config hash, terms and conditions, `PUT` acceptance with
//! EIP-712 signature checks, definition creation and lock publishing. Knobs
//! inject 5xx answers, stalls and malformed bodies, and every request is
//! recorded so tests can assert on traffic.

mod routes;
mod server;
mod state;

pub use server::FakeApi;
pub use state::FakeApiOptions;
