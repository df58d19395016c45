//! The Obol API endpoints around a DKG besides the listing: one definition,
//! terms and conditions, acceptance, creation, and locks.

use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::client::{
    MAX_LOCK_BYTES, ObolApi, PublishOutcome, RetryPolicy, TERMS_AND_CONDITIONS_HASH,
    TERMS_AND_CONDITIONS_VERSION,
};
use super::error::ApiError;
use super::wire::{Call, urlencode};

impl ObolApi {
    /// `GET /v1/definition/{config_hash}`; `None` on 404.
    pub async fn definition(&self, config_hash: &str) -> Result<Option<Value>, ApiError> {
        let path = format!("/v1/definition/{}", urlencode(config_hash));
        let what = format!("fetching definition {config_hash}");
        self.get_unless_missing(&Call::get(&path, &what)).await
    }

    /// `GET /v1/termsAndConditions/{address}`.
    pub async fn terms_signed(&self, address: &str) -> Result<bool, ApiError> {
        let what = format!("checking terms and conditions of {address}");
        let path = format!("/v1/termsAndConditions/{}", urlencode(address));
        let (_, body) = self.request(&Call::get(&path, &what)).await?;
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
            .request(&Call::signed(
                Method::POST,
                "/v1/termsAndConditions",
                &body,
                signature,
                &what,
            ))
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
        let call = Call::signed(Method::PUT, &path, body, config_signature, &what);
        self.request(&call).await.map(|(_, v)| v)
    }

    /// `POST /v1/definition`: publishes a new definition signed by its creator
    /// (`creator_signature` is the EIP-712 `CreatorConfigHash` signature).
    pub async fn create_definition(
        &self,
        def: &Value,
        creator_signature: &str,
    ) -> Result<Value, ApiError> {
        let what = "publishing a new cluster definition";
        let call = Call::signed(Method::POST, "/v1/definition", def, creator_signature, what);
        self.request(&call).await.map(|(_, v)| v)
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
        match self
            .request(&Call {
                method: Method::POST,
                path,
                body: Some(lock),
                bearer: None,
                what: "publishing the cluster lock",
                max_body: None,
            })
            .await
        {
            Ok(_) => Ok(PublishOutcome::Stored),
            Err(e) if e.status() == Some(409) => Ok(PublishOutcome::AlreadyPublished),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/lock/{lock_hash}`; `None` on 404.
    pub async fn lock(&self, lock_hash: &str) -> Result<Option<Value>, ApiError> {
        let path = format!("/v1/lock/{}", urlencode(lock_hash));
        let what = format!("fetching lock {lock_hash}");
        let call = Call {
            max_body: Some(MAX_LOCK_BYTES),
            ..Call::get(&path, &what)
        };
        self.get_unless_missing(&call).await
    }
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
