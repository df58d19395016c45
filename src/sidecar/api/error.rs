//! Errors of Obol API requests, each naming the operation, and the one-line
//! summaries of what the API or the transport said.

use reqwest::StatusCode;
use serde_json::Value;

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

/// The API's error message (NestJS `message`, string or list; charon mocks use
/// `Message`), else the start of the body, else the status reason.
pub(super) fn error_message(body: &[u8], status: StatusCode) -> String {
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

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
