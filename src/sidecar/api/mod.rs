//! Obol API client: the endpoints around a DKG (definition listing and fetch,
//! terms and conditions, acceptance, lock publishing and fetch), each request
//! with a timeout, a bounded body, clear errors, and retries with jittered
//! exponential backoff for transient failures (timeouts, 5xx, 429).
//!
//! Definitions and locks are passed through as `serde_json::Value`: parsing and
//! verification belong to `crate::lock`.

mod client;
mod endpoints;
mod error;
mod transport;
mod wire;

pub use client::{
    MAX_BODY_BYTES, MAX_LISTING_BYTES, MAX_LOCK_BYTES, MAX_PAGES, ObolApi, PublishOutcome,
    RetryPolicy, TERMS_AND_CONDITIONS_HASH, TERMS_AND_CONDITIONS_VERSION,
};
pub use endpoints::publish_lock_file;
pub use error::ApiError;
pub use wire::DefinitionPage;
