//! Importing the new keystores into a validator client's keymanager API
//! (`POST /eth/v1/keystores`) instead of writing them to disk, as charon dkg
//! does with `--keymanager-address` and `--keymanager-auth-token`.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::lock::keystore::{self, Keystore, Password};

/// How long the reachability probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Base time allowed for the import; the keymanager decrypts every keystore
/// (one pbkdf2 each), so each key adds [`PER_KEY`].
const IMPORT_BASE: Duration = Duration::from_secs(60);
const PER_KEY: Duration = Duration::from_millis(500);

/// Why the keymanager could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeymanagerError {
    /// The address is not an http(s) URL with a host.
    #[error("--keymanager-address {0:?} is not an http(s) URL with a host")]
    Address(String),
    /// The probe could not open a TCP connection.
    #[error("keymanager at {url} is unreachable: {detail}")]
    Unreachable {
        /// The keymanager URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The import request failed or was refused.
    #[error("keymanager import at {url} failed: {detail}")]
    Import {
        /// The keymanager URL.
        url: String,
        /// What failed.
        detail: String,
    },
}

/// A keymanager API endpoint with its bearer token.
#[derive(Clone)]
pub struct Keymanager {
    url: Url,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for Keymanager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keymanager")
            .field("url", &self.url())
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(serde::Serialize)]
struct ImportRequest<'a> {
    keystores: Vec<String>,
    passwords: Vec<&'a str>,
}

/// The import request body, holding every password. It is serialised into a
/// zeroizing buffer allocated large enough up front (JSON escaping at most
/// sextuples a character), so no reallocation leaves a copy behind, and the
/// HTTP client gets it as `Bytes` owning that buffer: it is wiped when the
/// client drops the request.
fn import_body(keys: &[(Keystore, Password)]) -> serde_json::Result<bytes::Bytes> {
    let req = ImportRequest {
        keystores: keys
            .iter()
            .map(|(ks, _)| String::from_utf8_lossy(&keystore::to_json(ks)).into_owned())
            .collect(),
        passwords: keys.iter().map(|(_, pw)| pw.expose()).collect(),
    };
    Ok(bytes::Bytes::from_owner(serialize_zeroizing(&req)?))
}

/// An upper bound of the serialised size of `req`.
fn body_bound(req: &ImportRequest<'_>) -> usize {
    req.keystores
        .iter()
        .map(String::len)
        .chain(req.passwords.iter().map(|p| p.len()))
        .fold(64usize, |acc, len| {
            acc.saturating_add(len.saturating_mul(6).saturating_add(8))
        })
}

fn serialize_zeroizing(req: &ImportRequest<'_>) -> serde_json::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(body_bound(req)));
    serde_json::to_writer(&mut *buf, req)?;
    Ok(buf)
}

#[derive(Deserialize)]
struct ImportResponse {
    #[serde(default)]
    data: Vec<ImportStatus>,
}

#[derive(Deserialize)]
struct ImportStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
}

impl Keymanager {
    /// A keymanager at `address` (e.g. `http://validator:7500`) using `token`.
    pub fn new(address: &str, token: &str) -> Result<Self, KeymanagerError> {
        let url = Url::parse(address).map_err(|_| KeymanagerError::Address(address.into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(KeymanagerError::Address(address.into()));
        }
        Ok(Keymanager {
            url,
            token: Zeroizing::new(token.to_string()),
        })
    }

    /// The endpoint's URL for logs and errors, without any user name or
    /// password it may carry.
    pub fn url(&self) -> String {
        let mut shown = self.url.clone();
        // Only fails for URLs that cannot carry credentials anyway.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.to_string()
    }

    /// Checks that the keymanager accepts TCP connections, before the
    /// ceremony starts (charon's `VerifyConnection`).
    pub async fn probe(&self) -> Result<(), KeymanagerError> {
        let unreachable = |detail: String| KeymanagerError::Unreachable {
            url: self.url(),
            detail,
        };
        let host = self
            .url
            .host_str()
            .ok_or_else(|| unreachable("no host".into()))?;
        let port = self
            .url
            .port_or_known_default()
            .ok_or_else(|| unreachable("no port".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host, port)))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!("no answer within {PROBE_TIMEOUT:?}"))),
        }
    }

    /// Imports the keystores with their passwords in one request. Every key
    /// must come back `imported` (or `duplicate`, already there); anything
    /// else is an error naming the first refused keystore.
    pub async fn import(&self, keys: &[(Keystore, Password)]) -> Result<(), KeymanagerError> {
        let fail = |detail: String| KeymanagerError::Import {
            url: self.url(),
            detail,
        };
        // Appended to any path of the address, as charon's JoinPath does.
        let mut base = self.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let endpoint = base
            .join("eth/v1/keystores")
            .map_err(|e| fail(e.to_string()))?;
        let body = import_body(keys).map_err(|e| fail(e.to_string()))?;
        let timeout = IMPORT_BASE + PER_KEY * u32::try_from(keys.len()).unwrap_or(u32::MAX);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(PROBE_TIMEOUT)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let resp = http
            .post(endpoint)
            .bearer_auth(self.token.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(reqwest::Body::from(body))
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let snippet: String = text.chars().take(200).collect();
            return Err(fail(format!("HTTP {status}: {snippet}")));
        }
        let parsed: ImportResponse =
            serde_json::from_str(&text).map_err(|e| fail(format!("unreadable response ({e})")))?;
        if parsed.data.len() != keys.len() {
            return Err(fail(format!(
                "{} statuses for {} keystores",
                parsed.data.len(),
                keys.len()
            )));
        }
        let mut duplicates = 0;
        for (i, s) in parsed.data.iter().enumerate() {
            match s.status.as_str() {
                "imported" => {}
                "duplicate" => duplicates += 1,
                other => {
                    return Err(fail(format!(
                        "keystore {i} {other}: {}",
                        s.message.chars().take(200).collect::<String>()
                    )));
                }
            }
        }
        if duplicates > 0 {
            tracing::warn!(
                duplicates,
                "Keymanager already held some of the keys (reported duplicate)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_token_never_shown() {
        let km = Keymanager::new("http://admin:hunter2@validator:7500/", "tok3n").unwrap();
        assert_eq!(km.url(), "http://validator:7500/");
        let debug = format!("{km:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("tok3n"),
            "{debug}"
        );
        assert!(Keymanager::new("validator:7500", "t").is_err());
        assert!(Keymanager::new("ftp://validator", "t").is_err());
    }

    #[test]
    fn import_body_is_built_without_reallocating() {
        // Worst-case escaping: every character becomes \u00XX.
        let pw: String = std::iter::repeat_n('\u{1}', 4096).collect();
        let ks = "\"".repeat(3000);
        let req = ImportRequest {
            keystores: vec![ks.clone(), ks],
            passwords: vec![&pw, "plain", ""],
        };
        let buf = serialize_zeroizing(&req).unwrap();
        // Still the first allocation (a grown Vec doubles its capacity): no
        // outgrown copy of a password was freed unwiped along the way.
        assert!(buf.capacity() < 2 * body_bound(&req));
        assert!(buf.len() <= body_bound(&req));
        let back: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back["passwords"][0].as_str().unwrap(), pw);
    }
}
