//! Obol API client: the endpoints around a DKG (definition listing and fetch,
//! terms and conditions, acceptance, lock publishing and fetch), each request
//! with a timeout, a bounded body, clear errors, and retries with jittered
//! exponential backoff for transient failures (timeouts, 5xx, 429).
//!
//! Definitions and locks are passed through as `serde_json::Value`: parsing and
//! verification belong to `crate::lock`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

/// Largest response body accepted (charon uses the same bound for definitions).
pub const MAX_BODY_BYTES: usize = 16 << 20;
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

/// A failed Obol API request; every message names the operation.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No response within the request timeout.
    #[error("{what}: no answer from {url} within {secs} s")]
    Timeout {
        /// The operation.
        what: String,
        /// The URL requested.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// Connection-level failure.
    #[error("{what}: cannot reach {url}: {detail}")]
    Unreachable {
        /// The operation.
        what: String,
        /// The URL requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// A non-success HTTP status.
    #[error("{what}: Obol API answered HTTP {status}: {message}")]
    Status {
        /// The operation.
        what: String,
        /// HTTP status code.
        status: u16,
        /// The API's error message, or the start of the body.
        message: String,
    },
    /// A response that is not what the endpoint documents.
    #[error("{what}: unexpected response from {url}: {detail}")]
    Invalid {
        /// The operation.
        what: String,
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl ApiError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Timeout { .. } | ApiError::Unreachable { .. } => true,
            ApiError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            ApiError::Invalid { .. } => false,
        }
    }

    /// The HTTP status, if the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One page of `GET /v1/definition/operator/{address}`.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionPage {
    /// The definitions on this page, as served.
    pub definitions: Vec<Value>,
    /// `total_pages`, when present.
    pub total_pages: Option<u64>,
    /// `total_count`, when present.
    pub total_count: Option<u64>,
    /// Legacy `has_next_page` / `next_page` hint, when present.
    pub has_next: Option<bool>,
    /// Size of the response body.
    pub bytes: usize,
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
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    retry: RetryPolicy,
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
        self.request(
            Method::GET,
            "/v1/_health",
            None,
            None,
            "checking Obol API health",
        )
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
            .request_with(Method::GET, &path, None, None, &what, retry_status)
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

    /// `GET /v1/definition/{config_hash}`; `None` on 404.
    pub async fn definition(&self, config_hash: &str) -> Result<Option<Value>, ApiError> {
        let what = format!("fetching definition {config_hash}");
        let path = format!("/v1/definition/{}", urlencode(config_hash));
        match self.request(Method::GET, &path, None, None, &what).await {
            Ok((_, body)) => Ok(Some(body)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/termsAndConditions/{address}`.
    pub async fn terms_signed(&self, address: &str) -> Result<bool, ApiError> {
        let what = format!("checking terms and conditions of {address}");
        let path = format!("/v1/termsAndConditions/{}", urlencode(address));
        let (_, body) = self.request(Method::GET, &path, None, None, &what).await?;
        body.get("isTermsAndConditionsSigned")
            .and_then(Value::as_bool)
            .ok_or_else(|| ApiError::Invalid {
                what,
                url: self.url(&path),
                detail: "no boolean isTermsAndConditionsSigned".into(),
            })
    }

    /// `POST /v1/termsAndConditions` with the EIP-712 signature; a 409 (already
    /// accepted) counts as success.
    pub async fn accept_terms(
        &self,
        address: &str,
        fork_version: &str,
        signature: &str,
    ) -> Result<(), ApiError> {
        let what = format!("accepting terms and conditions for {address}");
        let body = json!({
            "address": address,
            "version": TERMS_AND_CONDITIONS_VERSION,
            "terms_and_conditions_hash": TERMS_AND_CONDITIONS_HASH,
            "fork_version": fork_version,
        });
        match self
            .request(
                Method::POST,
                "/v1/termsAndConditions",
                Some(&body),
                Some(signature),
                &what,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(409) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `PUT /v1/definition/{config_hash}`: accepts the invitation with this
    /// operator's ENR and signatures; returns the updated definition.
    pub async fn accept_definition(
        &self,
        config_hash: &str,
        body: &Value,
        config_signature: &str,
    ) -> Result<Value, ApiError> {
        let what = format!("accepting definition {config_hash}");
        let path = format!("/v1/definition/{}", urlencode(config_hash));
        self.request(
            Method::PUT,
            &path,
            Some(body),
            Some(config_signature),
            &what,
        )
        .await
        .map(|(_, v)| v)
    }

    /// `POST /v1/definition`: publishes a new definition signed by its creator
    /// (`creator_signature` is the EIP-712 `CreatorConfigHash` signature).
    pub async fn create_definition(
        &self,
        def: &Value,
        creator_signature: &str,
    ) -> Result<Value, ApiError> {
        let what = "publishing a new cluster definition".to_string();
        self.request(
            Method::POST,
            "/v1/definition",
            Some(def),
            Some(creator_signature),
            &what,
        )
        .await
        .map(|(_, v)| v)
    }

    /// `POST {publish_base}/lock`: publishes a cluster lock; a 409 means another
    /// node was first. `publish_base` is e.g. `https://api.obol.tech/v1`.
    pub async fn publish_lock(&self, lock: &Value) -> Result<PublishOutcome, ApiError> {
        self.publish_lock_to(lock, "/v1/lock").await
    }

    /// [`ObolApi::publish_lock`] to another path: charon dkg's `--publish`
    /// replaces the address's path with `/lock`.
    pub async fn publish_lock_to(
        &self,
        lock: &Value,
        path: &str,
    ) -> Result<PublishOutcome, ApiError> {
        let what = "publishing the cluster lock".to_string();
        match self
            .request(Method::POST, path, Some(lock), None, &what)
            .await
        {
            Ok(_) => Ok(PublishOutcome::Stored),
            Err(e) if e.status() == Some(409) => Ok(PublishOutcome::AlreadyPublished),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/lock/{lock_hash}`; `None` on 404.
    pub async fn lock(&self, lock_hash: &str) -> Result<Option<Value>, ApiError> {
        let what = format!("fetching lock {lock_hash}");
        let path = format!("/v1/lock/{}", urlencode(lock_hash));
        match self.request(Method::GET, &path, None, None, &what).await {
            Ok((_, body)) => Ok(Some(body)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// One request with retries on transient failures.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        bearer: Option<&str>,
        what: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        self.request_with(method, path, body, bearer, what, true)
            .await
            .map(|(s, v, _)| (s, v))
    }

    /// Like `request`; with `retry_status` false, HTTP error answers are
    /// returned at once and only transport failures are retried.
    async fn request_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        bearer: Option<&str>,
        what: &str,
        retry_status: bool,
    ) -> Result<(StatusCode, Value, usize), ApiError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.retries)
            .with_jitter();
        (|| self.request_once(method.clone(), path, body, bearer, what))
            .retry(backoff)
            .when(|e| e.is_transient() && (retry_status || e.status().is_none()))
            .notify(|e, d| tracing::warn!("{e}; retrying in {:.1} s", d.as_secs_f64()))
            .await
    }

    async fn request_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        bearer: Option<&str>,
        what: &str,
    ) -> Result<(StatusCode, Value, usize), ApiError> {
        let url = self.url(path);
        let mut req = self
            .http
            .request(method, &url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(sig) = bearer {
            req = req.bearer_auth(sig);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                ApiError::Timeout {
                    what: what.to_string(),
                    url: url.clone(),
                    secs: self.timeout.as_secs().max(1),
                }
            } else {
                ApiError::Unreachable {
                    what: what.to_string(),
                    url: url.clone(),
                    detail: error_chain(&e),
                }
            }
        };
        let mut resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ApiError::Invalid {
                    what: what.to_string(),
                    url,
                    detail: format!("response body exceeds {} MiB", MAX_BODY_BYTES >> 20),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(ApiError::Status {
                what: what.to_string(),
                status: status.as_u16(),
                message: error_message(&bytes, status),
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok((status, Value::Null, bytes.len()));
        }
        let v = serde_json::from_slice(&bytes).map_err(|e| ApiError::Invalid {
            what: what.to_string(),
            url,
            detail: format!("body is not JSON ({e})"),
        })?;
        Ok((status, v, bytes.len()))
    }
}

/// Parses a listing page per the API specification, tolerating the legacy hints.
fn parse_page(body: Value, what: &str, url: &str) -> Result<DefinitionPage, ApiError> {
    let invalid = |detail: &str| ApiError::Invalid {
        what: what.to_string(),
        url: url.to_string(),
        detail: detail.to_string(),
    };
    let Value::Object(mut obj) = body else {
        return Err(invalid("expected a JSON object"));
    };
    let definitions = match obj.remove("cluster_definitions") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => return Err(invalid("no cluster_definitions array")),
        Some(_) => return Err(invalid("cluster_definitions is not an array")),
    };
    let num = |k: &str| obj.get(k).and_then(Value::as_u64);
    let has_next = match (obj.get("has_next_page"), obj.get("next_page")) {
        (Some(Value::Bool(b)), _) => Some(*b),
        (_, Some(Value::Null)) => Some(false),
        (_, Some(_)) => Some(true),
        _ => None,
    };
    Ok(DefinitionPage {
        definitions,
        total_pages: num("total_pages"),
        total_count: num("total_count"),
        has_next,
        bytes: 0,
    })
}

/// The API's error message (NestJS `message`, string or list; charon mocks use
/// `Message`), else the start of the body, else the status reason.
fn error_message(body: &[u8], status: StatusCode) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let m = v.get("message").or_else(|| v.get("Message"));
        match m {
            Some(Value::String(s)) => return truncate(s),
            Some(Value::Array(a)) => {
                let parts: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                if !parts.is_empty() {
                    return truncate(&parts.join("; "));
                }
            }
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string()
    } else {
        truncate(text)
    }
}

fn truncate(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        let cut: String = one_line.chars().take(200).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Percent-encodes a path segment (addresses and hashes are plain hex, but the
/// value comes from configuration or the API).
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a written `cluster-lock.json` and publishes it to `base` + `path`,
/// with `timeout` per request. The error is one line for the log.
pub async fn publish_lock_file(
    lock_file: &std::path::Path,
    base: &Url,
    path: &str,
    timeout: Duration,
) -> Result<PublishOutcome, String> {
    let bytes = std::fs::read(lock_file).map_err(|e| format!("{}: {e}", lock_file.display()))?;
    let lock: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{}: not JSON: {e}", lock_file.display()))?;
    let api = ObolApi::new(base, timeout, RetryPolicy::default()).map_err(|e| e.to_string())?;
    api.publish_lock_to(&lock, path)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_parsing() {
        let p = parse_page(
            json!({"cluster_definitions": [{"a":1}], "total_count": 21, "total_pages": 3}),
            "w",
            "u",
        )
        .unwrap();
        assert_eq!(p.definitions.len(), 1);
        assert_eq!(p.total_pages, Some(3));
        assert_eq!(p.has_next, None);
        let p = parse_page(
            json!({"cluster_definitions": [], "next_page": null}),
            "w",
            "u",
        )
        .unwrap();
        assert_eq!(p.has_next, Some(false));
        let p = parse_page(
            json!({"cluster_definitions": [], "has_next_page": true}),
            "w",
            "u",
        )
        .unwrap();
        assert_eq!(p.has_next, Some(true));
        for bad in [
            json!([]),
            json!({}),
            json!({"cluster_definitions": {}}),
            json!(null),
        ] {
            assert!(parse_page(bad, "w", "u").is_err());
        }
    }

    #[test]
    fn error_messages() {
        let m = |b: &str| error_message(b.as_bytes(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            m(r#"{"statusCode":401,"message":"Missing t&c signature"}"#),
            "Missing t&c signature"
        );
        assert_eq!(m(r#"{"message":["a","b"]}"#), "a; b");
        assert_eq!(m(r#"{"Message":"x"}"#), "x");
        assert_eq!(m("plain\ntext"), "plain text");
        assert_eq!(m(""), "Unauthorized");
        assert!(m(&"y".repeat(1000)).chars().count() <= 201);
    }

    #[test]
    fn transient_classification() {
        let s = |status| ApiError::Status {
            what: "w".into(),
            status,
            message: "m".into(),
        };
        assert!(s(500).is_transient());
        assert!(s(503).is_transient());
        assert!(s(429).is_transient());
        assert!(!s(404).is_transient());
        assert!(!s(401).is_transient());
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(urlencode("0xAbC"), "0xAbC");
        assert_eq!(urlencode("a/b?c"), "a%2Fb%3Fc");
    }
}
