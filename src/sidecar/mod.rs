//! Sidecar mode: Obol API client, invitation selection, acceptance, retry loop.
//!
//! The sidecar is the init container of a charon pod: it finds this operator's
//! cluster invitation on the Obol API ([`api`]), picks and verifies the right
//! definition ([`select`]), accepts it on the operator's behalf when it holds the
//! operator key ([`accept`]), and drives the embedded DKG ([`embedded`]) until a
//! lock exists ([`lifecycle`]). The fake Obol API, test clusters and the local
//! demo live apart in [`demo`].

pub mod accept;
pub mod api;
pub mod artifacts;
pub mod backoff;
pub mod config;
pub mod defn;
pub mod demo;
pub mod embedded;
pub mod identity;
pub mod lifecycle;
pub mod runner;
pub mod select;

pub use demo::{fake_api, fixture};
