//! Contract-wallet (ERC-1271) signature checks through an execution client,
//! as charon does with `--execution-client-rpc-endpoint`: one JSON-RPC
//! `eth_call` of `isValidSignature(bytes32 hash, bytes signature)` on the
//! signer's address per signature that is not a valid EOA signature.
//!
//! The endpoint is treated as hostile: every request has a deadline, answers
//! are read up to a size cap, nothing it sends is trusted beyond the one
//! value compared, and its URL (which often carries an API key) is never
//! shown past its host.

use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use crate::lock::contract::{EXECUTION_CLIENT_FLAG, PendingContractSignatures};
use crate::lock::error::VerifyError;

/// `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`: both the function
/// selector and the value a contract returns to accept a signature.
pub const MAGIC_VALUE: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];
/// Deadline of one call, connection included (charon waits 10 s for its
/// execution client too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read; a genuine one is about a hundred bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Longest piece of an endpoint's own text (an error message) repeated to
/// the user.
const MAX_QUOTED_CHARS: usize = 200;

/// Why the execution client could not give a verdict. A contract that
/// answers "no" is not an error: see [`Verdict::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Erc1271Error {
    /// The configured endpoint is not usable as a URL. Its value is not
    /// repeated: it may hold an API key.
    #[error("{EXECUTION_CLIENT_FLAG}: {0}")]
    Endpoint(String),
    /// No connection, or it broke before an answer arrived.
    #[error(
        "execution client {endpoint} is unreachable ({reason}); check {EXECUTION_CLIENT_FLAG} and that the client is running"
    )]
    Unreachable {
        /// The endpoint, shown up to its host.
        endpoint: String,
        /// The transport error.
        reason: String,
    },
    /// No complete answer within the deadline.
    #[error(
        "execution client {endpoint} did not answer within {seconds} s; check {EXECUTION_CLIENT_FLAG} and that the client is synced and not overloaded"
    )]
    Timeout {
        /// The endpoint, shown up to its host.
        endpoint: String,
        /// The deadline.
        seconds: u64,
    },
    /// An HTTP status other than 2xx (redirects are not followed).
    #[error(
        "execution client {endpoint} answered HTTP {status}; check that {EXECUTION_CLIENT_FLAG} is its JSON-RPC address"
    )]
    Status {
        /// The endpoint, shown up to its host.
        endpoint: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is larger than [`MAX_RESPONSE_BYTES`].
    #[error(
        "execution client {endpoint} sent more than {max} bytes for one eth_call; check {EXECUTION_CLIENT_FLAG}"
    )]
    TooLarge {
        /// The endpoint, shown up to its host.
        endpoint: String,
        /// The cap.
        max: usize,
    },
    /// The answer is not a JSON-RPC 2.0 response to the call.
    #[error(
        "execution client {endpoint} did not answer in JSON-RPC ({reason}); check that {EXECUTION_CLIENT_FLAG} is its JSON-RPC address"
    )]
    Malformed {
        /// The endpoint, shown up to its host.
        endpoint: String,
        /// What is wrong with the answer.
        reason: String,
    },
}

/// What the signer's contract said about a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It returned the magic value: the signature is valid.
    Valid,
    /// It did not (another value, no code, a revert or a JSON-RPC error),
    /// with what it answered in words.
    Invalid(String),
}

/// Why contract-wallet signatures were not all accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractCheckError {
    /// A contract did not accept its signature: the file is invalid.
    #[error(transparent)]
    Rejected(VerifyError),
    /// The execution client could not be asked: nothing is known about the
    /// file's validity.
    #[error("cannot check the {signature} as a contract-wallet signature (ERC-1271): {error}")]
    Endpoint {
        /// Which signature, and whose.
        signature: String,
        /// Why the endpoint gave no verdict.
        error: Erc1271Error,
    },
}

/// An execution client's JSON-RPC endpoint, used only for ERC-1271 calls.
#[derive(Clone)]
pub struct ExecutionClient {
    url: Url,
    shown: String,
    timeout: Duration,
    http: reqwest::Client,
}

impl std::fmt::Debug for ExecutionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionClient")
            .field("endpoint", &self.shown)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Checks that `endpoint` is an http(s) URL with a host, without echoing it.
pub fn parse_endpoint(endpoint: &str) -> Result<Url, Erc1271Error> {
    let url = Url::parse(endpoint.trim())
        .map_err(|e| Erc1271Error::Endpoint(format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Erc1271Error::Endpoint(
            "not an http(s) URL with a host".into(),
        ));
    }
    Ok(url)
}

/// The endpoint as it may be shown: scheme, host and port. Paths, queries
/// and user info, where providers put API keys, are left out.
fn shown(url: &Url) -> String {
    let hidden = url.path() != "/" || url.query().is_some() || !url.username().is_empty();
    format!(
        "{}{}",
        url.origin().ascii_serialization(),
        if hidden { "/…" } else { "" }
    )
}

impl ExecutionClient {
    /// The client for an optional `--execution-client-rpc-endpoint`: none
    /// when the flag is absent or blank.
    pub fn optional(endpoint: Option<&str>) -> Result<Option<Self>, Erc1271Error> {
        endpoint
            .filter(|s| !s.trim().is_empty())
            .map(Self::new)
            .transpose()
    }

    /// A client with the default deadline.
    pub fn new(endpoint: &str) -> Result<Self, Erc1271Error> {
        Self::with_timeout(endpoint, DEFAULT_TIMEOUT)
    }

    /// A client whose calls each end after `timeout`.
    pub fn with_timeout(endpoint: &str, timeout: Duration) -> Result<Self, Erc1271Error> {
        let url = parse_endpoint(endpoint)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Erc1271Error::Endpoint(format!("cannot build an HTTP client ({e})")))?;
        Ok(ExecutionClient {
            shown: shown(&url),
            url,
            timeout,
            http,
        })
    }

    /// The endpoint as it may be logged (no path or query).
    pub fn endpoint(&self) -> &str {
        &self.shown
    }

    /// Asks the contract at `contract` whether `signature` is its signature
    /// of `hash`. As charon (go-ethereum's ABI decoder), the answer is
    /// accepted when it is at least one 32-byte word whose first four bytes
    /// are [`MAGIC_VALUE`].
    pub async fn is_valid_signature(
        &self,
        contract: &[u8; 20],
        hash: &[u8; 32],
        signature: &[u8],
    ) -> Result<Verdict, Erc1271Error> {
        let request = serde_json::json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [
                {
                    "to": format!("0x{}", hex::encode(contract)),
                    "data": format!("0x{}", hex::encode(is_valid_signature_calldata(hash, signature))),
                },
                "latest"
            ],
        });
        let mut resp = self
            .http
            .post(self.url.clone())
            .json(&request)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        if !resp.status().is_success() {
            return Err(Erc1271Error::Status {
                endpoint: self.shown.clone(),
                status: resp.status().as_u16(),
            });
        }
        let too_large = || Erc1271Error::TooLarge {
            endpoint: self.shown.clone(),
            max: MAX_RESPONSE_BYTES,
        };
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        interpret(&body).map_err(|reason| Erc1271Error::Malformed {
            endpoint: self.shown.clone(),
            reason,
        })
    }

    /// Asks each signature's contract in turn, stopping at the first that
    /// does not accept its signature or cannot be asked.
    pub async fn check(
        &self,
        pending: PendingContractSignatures,
    ) -> Result<(), ContractCheckError> {
        for cs in pending.into_vec() {
            tracing::info!(
                signature = %cs,
                endpoint = %self.shown,
                "Not an EOA signature; asking the signer's contract (ERC-1271)"
            );
            match self
                .is_valid_signature(&cs.signer, &cs.digest, &cs.signature)
                .await
            {
                Ok(Verdict::Valid) => {
                    tracing::info!(signature = %cs, "Contract-wallet signature accepted by its contract");
                }
                Ok(Verdict::Invalid(why)) => {
                    return Err(ContractCheckError::Rejected(cs.rejected(why)));
                }
                Err(error) => {
                    return Err(ContractCheckError::Endpoint {
                        signature: cs.to_string(),
                        error,
                    });
                }
            }
        }
        Ok(())
    }

    fn transport(&self, e: reqwest::Error) -> Erc1271Error {
        if e.is_timeout() {
            return Erc1271Error::Timeout {
                endpoint: self.shown.clone(),
                seconds: self.timeout.as_secs().max(1),
            };
        }
        // The URL is dropped from the message: it may carry an API key.
        let e = e.without_url();
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        Erc1271Error::Unreachable {
            endpoint: self.shown.clone(),
            reason,
        }
    }
}

/// The ABI-encoded call `isValidSignature(hash, signature)`: selector, the
/// hash, the offset of the bytes argument (0x40), its length, and the bytes
/// zero-padded to whole 32-byte words.
pub fn is_valid_signature_calldata(hash: &[u8; 32], signature: &[u8]) -> Vec<u8> {
    let padded = signature.len().div_ceil(32) * 32;
    let mut out = Vec::with_capacity(4 + 3 * 32 + padded);
    out.extend_from_slice(&MAGIC_VALUE);
    out.extend_from_slice(hash);
    out.extend_from_slice(&word(0x40));
    out.extend_from_slice(&word(signature.len() as u64));
    out.extend_from_slice(signature);
    out.resize(4 + 3 * 32 + padded, 0);
    out
}

fn word(x: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&x.to_be_bytes());
    w
}

/// Text from the endpoint, made safe to repeat: one line, bounded.
fn quoted(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_QUOTED_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_QUOTED_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Reads a JSON-RPC answer to the call; `Err` when it is not one.
fn interpret(body: &[u8]) -> Result<Verdict, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "the answer is not a JSON object".to_string())?;
    match obj.get("id") {
        Some(id) if id.as_u64() == Some(1) => {}
        Some(id) => return Err(quoted(&format!("the answer is for request id {id}, not 1"))),
        None => return Err("the answer has no id".into()),
    }
    if let Some(err) = obj.get("error").filter(|e| !e.is_null()) {
        // A revert is reported as a JSON-RPC error too: either way the
        // contract did not return the magic value.
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        let code = err
            .get("code")
            .and_then(Value::as_i64)
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        return Ok(Verdict::Invalid(format!(
            "the call failed with JSON-RPC error{code}: {}",
            quoted(message)
        )));
    }
    let result = obj
        .get("result")
        .ok_or_else(|| "the answer has neither result nor error".to_string())?
        .as_str()
        .ok_or_else(|| "the result is not a string".to_string())?;
    let digits = result
        .strip_prefix("0x")
        .or_else(|| result.strip_prefix("0X"))
        .ok_or_else(|| "the result is not 0x-prefixed hex".to_string())?;
    let data = hex::decode(digits).map_err(|_| "the result is not 0x-prefixed hex".to_string())?;
    Ok(match data.get(..32) {
        None if data.is_empty() => Verdict::Invalid(
            "the call returned no data: there is no contract at this address, or it has no isValidSignature".into(),
        ),
        None => Verdict::Invalid(format!(
            "the call returned {} bytes, not an ABI-encoded bytes4",
            data.len()
        )),
        Some(w) if w.starts_with(&MAGIC_VALUE) => Verdict::Valid,
        Some(w) => Verdict::Invalid(format!(
            "it returned 0x{} instead of the magic value 0x{}",
            hex::encode(w.get(..4).unwrap_or_default()),
            hex::encode(MAGIC_VALUE)
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha3::{Digest, Keccak256};

    #[test]
    fn selector_is_the_magic_value() {
        let h = Keccak256::digest(b"isValidSignature(bytes32,bytes)");
        assert_eq!(h[..4], MAGIC_VALUE);
    }

    #[test]
    fn calldata_layout() {
        let hash = [0xaa; 32];
        let sig: Vec<u8> = (1..=66).collect();
        let c = is_valid_signature_calldata(&hash, &sig);
        assert_eq!(c.len(), 4 + 32 * 3 + 96);
        assert_eq!(c[..4], MAGIC_VALUE);
        assert_eq!(c[4..36], hash);
        assert_eq!(c[36..68], word(0x40));
        assert_eq!(c[68..100], word(66));
        assert_eq!(c[100..166], sig[..]);
        assert!(c[166..].iter().all(|&b| b == 0));
        // A whole number of words gets no padding.
        assert_eq!(
            is_valid_signature_calldata(&hash, &[7; 64]).len(),
            4 + 96 + 64
        );
    }

    #[test]
    fn answers() {
        let ok = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":"0x{}{}"}}"#,
            hex::encode(MAGIC_VALUE),
            "00".repeat(28)
        );
        assert_eq!(interpret(ok.as_bytes()), Ok(Verdict::Valid));
        // As go-ethereum: the word's padding and any further words are not read.
        let dirty = format!(
            r#"{{"id":1,"result":"0x{}{}"}}"#,
            hex::encode(MAGIC_VALUE),
            "ff".repeat(60)
        );
        assert_eq!(interpret(dirty.as_bytes()), Ok(Verdict::Valid));
        let invalid = |body: &str| match interpret(body.as_bytes()) {
            Ok(Verdict::Invalid(why)) => why,
            other => panic!("{body}: {other:?}"),
        };
        let w = invalid(&format!(r#"{{"id":1,"result":"0x{}"}}"#, "00".repeat(32)));
        assert!(w.contains("returned 0x00000000"), "{w}");
        // Magic value right-aligned (a uint, not bytes4): not accepted.
        let w = invalid(&format!(
            r#"{{"id":1,"result":"0x{}1626ba7e"}}"#,
            "00".repeat(28)
        ));
        assert!(w.contains("instead of the magic value"), "{w}");
        assert!(invalid(r#"{"id":1,"result":"0x"}"#).contains("no contract"));
        assert!(invalid(r#"{"id":1,"result":"0x1626ba7e"}"#).contains("4 bytes"));
        let w = invalid(
            r#"{"id":1,"error":{"code":3,"message":"execution reverted","data":"0x08c379a0"}}"#,
        );
        assert!(w.contains("JSON-RPC error 3: execution reverted"), "{w}");
        let long = format!(
            r#"{{"id":1,"error":{{"message":"{}\n"}}}}"#,
            "x".repeat(5000)
        );
        assert!(invalid(&long).chars().count() < MAX_QUOTED_CHARS + 100);
        for garbage in [
            "",
            "<html>",
            "[]",
            r#"{"id":1}"#,
            r#"{"id":2,"result":"0x"}"#,
            r#"{"result":"0x"}"#,
            r#"{"id":1,"result":7}"#,
            r#"{"id":1,"result":"1626ba7e"}"#,
            r#"{"id":1,"result":"0x1"}"#,
        ] {
            assert!(
                interpret(garbage.as_bytes()).is_err(),
                "{garbage:?} accepted"
            );
        }
    }

    #[test]
    fn endpoints_are_shown_without_secrets() {
        let c = ExecutionClient::new("https://user:pw@mainnet.example/v3/SECRETKEY?k=1").unwrap();
        assert_eq!(c.endpoint(), "https://mainnet.example/…");
        assert!(!format!("{c:?}").contains("SECRET"));
        assert_eq!(
            ExecutionClient::new("http://127.0.0.1:8545")
                .unwrap()
                .endpoint(),
            "http://127.0.0.1:8545"
        );
        for bad in ["", "localhost:8545", "ftp://x/", "http://", "/tmp/geth.ipc"] {
            let e = ExecutionClient::new(bad).unwrap_err().to_string();
            assert!(e.starts_with(EXECUTION_CLIENT_FLAG), "{bad:?}: {e}");
        }
        let e = ExecutionClient::new("ws://node/SECRET")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }
}
