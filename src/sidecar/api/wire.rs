//! The API's listing page format and path encoding.

use reqwest::Method;
use serde_json::Value;

use super::error::ApiError;

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

/// Parses a listing page per the API specification, tolerating the legacy hints.
pub(super) fn parse_page(body: Value, what: &str, url: &str) -> Result<DefinitionPage, ApiError> {
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

/// Percent-encodes a path segment (addresses and hashes are plain hex, but the
/// value comes from configuration or the API).
pub(super) fn urlencode(s: &str) -> String {
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

/// One Obol API call: what is sent, and `what` names it in errors and logs.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) path: &'a str,
    pub(super) body: Option<&'a Value>,
    /// Sent as `Authorization: Bearer` (the API's signatures travel so).
    pub(super) bearer: Option<&'a str>,
    pub(super) what: &'a str,
    /// Largest response body read; `None`: `MAX_BODY_BYTES`.
    pub(super) max_body: Option<usize>,
}

impl<'a> Call<'a> {
    /// `GET path`.
    pub(super) fn get(path: &'a str, what: &'a str) -> Self {
        Call {
            method: Method::GET,
            path,
            body: None,
            bearer: None,
            what,
            max_body: None,
        }
    }

    /// `method path` with a JSON body signed by `signature`.
    pub(super) fn signed(
        method: Method,
        path: &'a str,
        body: &'a Value,
        signature: &'a str,
        what: &'a str,
    ) -> Self {
        Call {
            method,
            path,
            body: Some(body),
            bearer: Some(signature),
            what,
            max_body: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn page_parsing() {
        let page = |v| parse_page(v, "w", "u").unwrap();
        let p =
            page(json!({"cluster_definitions": [{"a":1}], "total_count": 21, "total_pages": 3}));
        assert_eq!(p.definitions.len(), 1);
        assert_eq!(p.total_pages, Some(3));
        assert_eq!(p.has_next, None);
        for (v, has_next) in [
            (json!({"cluster_definitions": [], "next_page": null}), false),
            (
                json!({"cluster_definitions": [], "has_next_page": true}),
                true,
            ),
        ] {
            assert_eq!(page(v).has_next, Some(has_next));
        }
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
    fn encodes_path_segments() {
        assert_eq!(urlencode("0xAbC"), "0xAbC");
        assert_eq!(urlencode("a/b?c"), "a%2Fb%3Fc");
    }
}
