//! One Obol API request: timeout, bounded body, JSON, retries with jittered
//! exponential backoff on transient failures.

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;
use serde_json::Value;

use super::client::{MAX_BODY_BYTES, ObolApi};
use super::error::{ApiError, error_chain, error_message};
use super::wire::Call;

impl ObolApi {
    /// `GET path` with retries; `None` when the API answers 404.
    pub(super) async fn get_unless_missing(
        &self,
        call: &Call<'_>,
    ) -> Result<Option<Value>, ApiError> {
        match self.request(call).await {
            Ok((_, body)) => Ok(Some(body)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// One request with retries on transient failures.
    pub(super) async fn request(&self, call: &Call<'_>) -> Result<(StatusCode, Value), ApiError> {
        self.request_with(call, true).await.map(|(s, v, _)| (s, v))
    }

    /// Like `request`; with `retry_status` false, HTTP error answers are
    /// returned at once and only transport failures are retried.
    pub(super) async fn request_with(
        &self,
        call: &Call<'_>,
        retry_status: bool,
    ) -> Result<(StatusCode, Value, usize), ApiError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.retries)
            .with_jitter();
        (|| self.request_once(call))
            .retry(backoff)
            .when(|e| e.is_transient() && (retry_status || e.status().is_none()))
            .notify(|e, d| tracing::warn!("{e}; retrying in {:.1} s", d.as_secs_f64()))
            .await
    }

    pub(super) async fn request_once(
        &self,
        call: &Call<'_>,
    ) -> Result<(StatusCode, Value, usize), ApiError> {
        let (path, body, bearer, what) = (call.path, call.body, call.bearer, call.what);
        let max_body = call.max_body.unwrap_or(MAX_BODY_BYTES);
        let url = self.url(path);
        let mut req = self
            .http
            .request(call.method.clone(), &url)
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
            if bytes.len() + chunk.len() > max_body {
                return Err(ApiError::Invalid {
                    what: what.to_string(),
                    url,
                    detail: format!("response body exceeds {} MiB", max_body >> 20),
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
