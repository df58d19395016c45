//! Accepting an invitation on the operator's behalf: terms and conditions when
//! not yet signed, then the EIP-712 `OperatorConfigHash` and `ENR` signatures
//! sent with `PUT /v1/definition/{config_hash}`, exactly as the Launchpad does.
//! Only possible with the operator's own Ethereum key; the sidecar never signs
//! with the node key for the operator (a defect of the original).

use std::path::Path;

use serde_json::{Value, json};

use super::api::{ApiError, ObolApi};
use super::defn::{self, SecretKey};
use super::identity::{IdentityError, read_secret_key};
use super::select::{config_hash, text};

/// The operator's Ethereum signing key. Never printed.
pub struct OperatorSigner {
    key: SecretKey,
    address: String,
}

impl std::fmt::Debug for OperatorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorSigner")
            .field("address", &self.address)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl OperatorSigner {
    /// A signer for `key`.
    pub fn new(key: SecretKey) -> Self {
        let address = defn::address_of(&key);
        OperatorSigner { key, address }
    }

    /// Loads the key from `path` and checks it belongs to `operator_address`.
    pub fn load(path: &Path, operator_address: &str) -> Result<Self, IdentityError> {
        let key = read_secret_key(
            path,
            "operator private key file (OPERATOR_PRIVATE_KEY_FILE)",
        )?;
        let s = OperatorSigner::new(key);
        if !s.address.eq_ignore_ascii_case(operator_address.trim()) {
            return Err(IdentityError::Mismatch(format!(
                "OPERATOR_PRIVATE_KEY_FILE {} holds the key of {}, not of OPERATOR_ADDRESS {}",
                path.display(),
                s.address,
                operator_address
            )));
        }
        Ok(s)
    }

    /// The checksummed address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Signs the terms and conditions.
    pub fn sign_terms(&self) -> Result<String, defn::DefnError> {
        defn::sign_terms(&self.key)
    }

    /// Builds the `PUT` body and the config signature (the Bearer token) that
    /// accept `def` with `enr`.
    pub fn acceptance(&self, def: &Value, enr: &str) -> Result<(Value, String), AcceptError> {
        let hash = config_hash(def)
            .ok_or_else(|| AcceptError::Definition("missing or malformed config_hash".into()))?;
        let fork = text(def, "fork_version");
        let chain = defn::chain_id(fork).map_err(|e| AcceptError::Definition(e.0))?;
        let version = match text(def, "version") {
            "" => "v1.10.0",
            v => v,
        };
        if !version_at_least_1_4(version) {
            return Err(AcceptError::Definition(format!(
                "definition version {version} is too old to accept (v1.4.0 or later needed)"
            )));
        }
        let config_sig = defn::sign_operator_config_hash(&self.key, &hash, chain)
            .map_err(|e| AcceptError::Definition(e.0))?;
        let enr_sig =
            defn::sign_enr(&self.key, enr, chain).map_err(|e| AcceptError::Definition(e.0))?;
        let body = json!({
            "address": self.address,
            "enr": enr,
            "fork_version": fork,
            "version": version,
            "enr_signature": enr_sig,
            "config_signature": config_sig,
        });
        Ok((body, config_sig))
    }
}

fn version_at_least_1_4(v: &str) -> bool {
    let mut parts = v.trim_start_matches('v').split('.');
    let major: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u64 = parts
        .next()
        .and_then(|p| p.split('-').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    major > 1 || (major == 1 && minor >= 4)
}

/// Why an acceptance failed.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The definition cannot be signed.
    #[error("cannot accept the definition: {0}")]
    Definition(String),
    /// The API refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Accepts the terms and conditions if needed, then the invitation `def` with
/// `enr`; returns the definition the API answers with.
pub async fn accept_invitation(
    api: &ObolApi,
    signer: &OperatorSigner,
    def: &Value,
    enr: &str,
) -> Result<Value, AcceptError> {
    let (body, config_sig) = signer.acceptance(def, enr)?;
    if !api.terms_signed(signer.address()).await? {
        tracing::info!(
            "Accepting the Obol terms and conditions for operator {}",
            signer.address()
        );
        let sig = signer
            .sign_terms()
            .map_err(|e| AcceptError::Definition(e.0))?;
        api.accept_terms(signer.address(), text(def, "fork_version"), &sig)
            .await?;
    }
    let hash = config_hash(def).unwrap_or_default();
    let updated = api.accept_definition(&hash, &body, &config_sig).await?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(version_at_least_1_4("v1.10.0"));
        assert!(version_at_least_1_4("v1.4.0"));
        assert!(version_at_least_1_4("v1.11.0-rc1"));
        assert!(!version_at_least_1_4("v1.3.0"));
        assert!(!version_at_least_1_4("garbage"));
    }

    #[test]
    fn acceptance_signatures_recover_to_the_operator() {
        let key = defn::parse_secret_key(&hex::encode([0x11u8; 32])).unwrap();
        let s = OperatorSigner::new(key);
        assert_eq!(s.address(), "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A");
        let def = json!({
            "config_hash": format!("0x{}", "ab".repeat(32)),
            "fork_version": "0x10000910",
            "version": "v1.10.0",
        });
        let (body, sig) = s.acceptance(&def, "enr:-abc").unwrap();
        let chain = 560_048;
        let a = defn::recover_operator_config_hash(&sig, &format!("0x{}", "ab".repeat(32)), chain)
            .unwrap();
        assert_eq!(a, s.address());
        let a = defn::recover_enr(text(&body, "enr_signature"), "enr:-abc", chain).unwrap();
        assert_eq!(a, s.address());
        assert!(!format!("{s:?}").contains("1111"));
        // The T&C vector from the spec (§1.9).
        assert_eq!(
            s.sign_terms().unwrap(),
            "0xc631dc91211bba4eba7566fafa8b584ecd91973c27147f98fe53155f2b492e3500f17b10955de79eab8b9ed2dd4bdbaebc99f5580d240ac4b1f6acc47f319ec31b"
        );
        let unknown_net =
            json!({"config_hash": format!("0x{}", "ab".repeat(32)), "fork_version": "0x12345678"});
        assert!(s.acceptance(&unknown_net, "enr:-abc").is_err());
    }
}
