//! The Obol API client: its limits and retry policy, and the operator listing.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::error::ApiError;
use super::wire::{Call, DefinitionPage, parse_page, urlencode};

/// Largest response body accepted (charon uses the same bound for definitions).
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Largest lock body accepted. A lock holds about 3 KB per validator, so the
/// definition bound would refuse clusters past about 5,000 validators; this
/// one fits the largest cluster a definition hash allows (65,536 validators).
pub const MAX_LOCK_BYTES: usize = 256 << 20;
/// Upper bound on pages walked in one listing, against runaway `total_pages`.
pub const MAX_PAGES: u64 = 1000;
/// Upper bound on the bytes of one whole listing (all pages together): anyone
/// can publish definitions naming an operator, and 1000 pages of 16 MiB would
/// otherwise all be held in memory at once.
pub const MAX_LISTING_BYTES: usize = 64 << 20;
/// The terms-and-conditions hash every Obol client signs.
pub const TERMS_AND_CONDITIONS_HASH: &str =
    "0xd33721644e8f3afab1495a74abe3523cec12d48b8da6cb760972492ca3f1a273";
/// The terms-and-conditions version every Obol client signs.
pub const TERMS_AND_CONDITIONS_VERSION: u64 = 1;

/// How transient request failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    /// First retry delay.
    pub min_delay: Duration,
    /// Largest retry delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Outcome of publishing a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// The API stored the lock (or idempotently returned the stored one).
    Stored,
    /// Another node published it first (HTTP 409 from older API versions).
    AlreadyPublished,
}

const PAGE0_UNKNOWN: u8 = 0;
const PAGE0_UNSUPPORTED: u8 = 2;

/// Client of the Obol API.
#[derive(Debug)]
pub struct ObolApi {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) timeout: Duration,
    pub(super) retry: RetryPolicy,
    max_listing_bytes: usize,
    // Whether the server rejected `page=0`, remembered across cycles.
    page0: AtomicU8,
}

impl ObolApi {
    /// A client for `base` (e.g. `https://api.obol.tech`; a trailing `/v1`, as in
    /// charon's `--publish-address`, is ignored), with a per-request timeout.
    pub fn new(base: &Url, timeout: Duration, retry: RetryPolicy) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("charon-dkg-sidecar/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Unreachable {
                what: "creating the HTTP client".into(),
                url: base.to_string(),
                detail: e.to_string(),
            })?;
        Ok(ObolApi {
            http,
            base: {
                let b = base.as_str().trim_end_matches('/');
                b.strip_suffix("/v1").unwrap_or(b).to_string()
            },
            timeout,
            retry,
            max_listing_bytes: MAX_LISTING_BYTES,
            page0: AtomicU8::new(PAGE0_UNKNOWN),
        })
    }

    /// The same client with another bound on a whole listing's bytes.
    pub fn with_max_listing_bytes(mut self, bytes: usize) -> Self {
        self.max_listing_bytes = bytes;
        self
    }

    /// The base URL without trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/_health`.
    pub async fn health(&self) -> Result<(), ApiError> {
        self.request(&Call::get("/v1/_health", "checking Obol API health"))
            .await
            .map(|_| ())
    }

    /// Fetches one page of the operator's definitions.
    pub async fn definitions_page(
        &self,
        operator: &str,
        page: u64,
        limit: u32,
    ) -> Result<DefinitionPage, ApiError> {
        self.definitions_page_with(operator, page, limit, true)
            .await
    }

    async fn definitions_page_with(
        &self,
        operator: &str,
        page: u64,
        limit: u32,
        retry_status: bool,
    ) -> Result<DefinitionPage, ApiError> {
        let what = format!("listing definitions of operator {operator} (page {page})");
        let path = format!(
            "/v1/definition/operator/{}?page={page}&limit={limit}",
            urlencode(operator)
        );
        let (_, body, bytes) = self
            .request_with(&Call::get(&path, &what), retry_status)
            .await?;
        let url = self.url(&path);
        let mut page = parse_page(body, &what, &url)?;
        page.bytes = bytes;
        Ok(page)
    }

    /// Lists every definition of the operator across all pages, tolerating 0- and
    /// 1-based paging, de-duplicated by `config_hash`, in API order. Stops
    /// (keeping what was read, with a warning) after [`MAX_PAGES`] pages or
    /// once the pages total more than the listing bound.
    pub async fn operator_definitions(
        &self,
        operator: &str,
        limit: u32,
    ) -> Result<Vec<Value>, ApiError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut add = |defs: Vec<Value>, out: &mut Vec<Value>| {
            for d in defs {
                match d.get("config_hash").and_then(Value::as_str) {
                    Some(h) if !seen.insert(h.to_ascii_lowercase()) => {}
                    _ => out.push(d),
                }
            }
        };
        let mut total_pages: Option<u64> = None;
        let mut total_bytes = 0usize;
        let over = |total: usize| {
            let over = total > self.max_listing_bytes;
            if over {
                tracing::warn!(
                    "The Obol API listing of operator {operator} exceeds {} bytes; ignoring the rest (set TARGET_CONFIG_HASH to fetch one definition directly)",
                    self.max_listing_bytes
                );
            }
            over
        };
        if self.page0.load(Ordering::Relaxed) != PAGE0_UNSUPPORTED {
            // Asked once only: a 1-based server may answer page=0 with any error.
            match self.definitions_page_with(operator, 0, limit, false).await {
                Ok(p) => {
                    total_pages = p.total_pages;
                    total_bytes = p.bytes;
                    add(p.definitions, &mut out);
                    if over(total_bytes) {
                        return Ok(out);
                    }
                }
                Err(e) if matches!(e.status(), Some(s) if (400..500).contains(&s) && s != 429) => {
                    tracing::debug!("Obol API rejects page=0 ({e}); using 1-based paging");
                    self.page0.store(PAGE0_UNSUPPORTED, Ordering::Relaxed);
                }
                Err(e) if e.status().is_some() => {
                    tracing::debug!("page=0 failed ({e}); continuing from page 1");
                }
                Err(e) => return Err(e),
            }
        }
        let mut page = 1u64;
        loop {
            let p = self.definitions_page(operator, page, limit).await?;
            let n = p.definitions.len();
            total_pages = match (total_pages, p.total_pages) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            add(p.definitions, &mut out);
            total_bytes = total_bytes.saturating_add(p.bytes);
            if over(total_bytes) {
                break;
            }
            let more = match total_pages {
                Some(t) => page < t && n > 0,
                None => p.has_next.unwrap_or(n >= limit as usize) && n > 0,
            };
            if !more {
                break;
            }
            page += 1;
            if page > MAX_PAGES {
                tracing::warn!(
                    "Obol API reports more than {MAX_PAGES} pages of definitions; ignoring the rest"
                );
                break;
            }
        }
        Ok(out)
    }
}
