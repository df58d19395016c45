//! The fake API's options and state, and the helpers its handlers share.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::sidecar::select::config_hash;

/// Behaviour fixed at start-up.
#[derive(Debug, Clone)]
pub struct FakeApiOptions {
    /// Number the first page 0 instead of 1.
    pub zero_based_pages: bool,
    /// Also emit the legacy `has_next_page` and `next_page` fields.
    pub legacy_paging_hints: bool,
    /// Check EIP-712 signatures on writes, like the real API.
    pub verify_signatures: bool,
    /// Answer 409 to a duplicate lock (older API) instead of an idempotent 201.
    pub lock_conflict_on_duplicate: bool,
    /// Answer 409 to a repeated terms-and-conditions acceptance.
    pub terms_conflict_on_repeat: bool,
}

impl Default for FakeApiOptions {
    fn default() -> Self {
        FakeApiOptions {
            zero_based_pages: false,
            legacy_paging_hints: false,
            verify_signatures: true,
            lock_conflict_on_duplicate: false,
            terms_conflict_on_repeat: false,
        }
    }
}

/// Faults injected into the next requests.
#[derive(Debug, Default)]
pub(super) struct Knobs {
    pub(super) fail_next: u32,
    pub(super) fail_status: u16,
    pub(super) stall_next: u32,
    pub(super) stall_for: Duration,
    pub(super) malformed_next: u32,
}

/// Everything the fake API holds.
#[derive(Debug, Default)]
pub(super) struct Store {
    // Insertion order; the listing sorts newest first.
    pub(super) definitions: Vec<Value>,
    pub(super) terms: HashSet<String>,
    // Fault injection: listed for every operator, whatever it contains.
    pub(super) listed_for_all: Vec<Value>,
    pub(super) locks: Vec<Value>,
    pub(super) requests: Vec<String>,
    pub(super) knobs: Knobs,
}

impl Store {
    /// Where the definition with config hash `hash` (lower-case) is stored.
    pub(super) fn position(&self, hash: &str) -> Option<usize> {
        self.definitions
            .iter()
            .position(|d| config_hash(d).as_deref() == Some(hash))
    }
}

/// The state every handler shares.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) opts: Arc<FakeApiOptions>,
    pub(super) store: Arc<Mutex<Store>>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock only happens in a failing test; keep serving.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An error answer shaped like the real API's (NestJS).
pub(super) fn err(status: StatusCode, message: &str) -> Response {
    let error = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({"statusCode": status.as_u16(), "message": message, "error": error})),
    )
        .into_response()
}

pub(super) fn lower(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}
