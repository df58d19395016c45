//! Accepting an invitation on the operator's behalf: terms and conditions when
//! not yet signed, then the EIP-712 `OperatorConfigHash` and `ENR` signatures
//! sent with `PUT /v1/definition/{config_hash}`, exactly as the Launchpad does.
//! Only possible with the operator's own Ethereum key; the sidecar never signs
//! with the node key for the operator (a defect of the original).

use std::path::Path;

use serde_json::{Value, json};

use super::api::{ApiError, ObolApi};
use super::defn::{self, Definition, Eip712Message, SecretKey};
use super::identity::{IdentityError, read_secret_key};
use crate::lock::version::Version;

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
        defn::sign_message(&self.key, Eip712Message::Terms)
    }

    /// Builds the `PUT` body and the config signature (the Bearer token) that
    /// accept `def` with `enr`. Everything signed comes from the typed,
    /// verified definition, never from another reading of the JSON.
    pub fn acceptance(&self, def: &Definition, enr: &str) -> Result<(Value, String), AcceptError> {
        if def.config_hash.len() != 32 {
            return Err(AcceptError::Definition(
                "missing or malformed config_hash".into(),
            ));
        }
        let hash = defn::config_hash_hex(def);
        let fork = defn::fork_version_hex(def);
        let chain = defn::chain_id(&fork).map_err(|e| AcceptError::Definition(e.0))?;
        if def.version < Version::V1_4 {
            return Err(AcceptError::Definition(format!(
                "definition version {} is too old to accept (v1.4.0 or later needed)",
                def.version.as_str()
            )));
        }
        let config_sig =
            defn::sign_message(&self.key, Eip712Message::OperatorConfigHash(&hash, chain))
                .map_err(|e| AcceptError::Definition(e.0))?;
        let enr_sig = defn::sign_message(&self.key, Eip712Message::Enr(enr, chain))
            .map_err(|e| AcceptError::Definition(e.0))?;
        let body = json!({
            "address": self.address,
            "enr": enr,
            "fork_version": fork,
            "version": def.version.as_str(),
            "enr_signature": enr_sig,
            "config_signature": config_sig,
        });
        Ok((body, config_sig))
    }
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
    def: &Definition,
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
        api.accept_terms(signer.address(), &defn::fork_version_hex(def), &sig)
            .await?;
    }
    let hash = defn::config_hash_hex(def);
    let updated = api.accept_definition(&hash, &body, &config_sig).await?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(v: Value) -> Definition {
        defn::parse_definition(&v).unwrap()
    }

    #[test]
    fn acceptance_signatures_recover_to_the_operator() {
        let key = defn::parse_secret_key(&hex::encode([0x11u8; 32])).unwrap();
        let s = OperatorSigner::new(key);
        assert_eq!(s.address(), "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A");
        let def = typed(json!({
            "config_hash": format!("0x{}", "ab".repeat(32)),
            "fork_version": "0x10000910",
            "version": "v1.10.0",
        }));
        let (body, sig) = s.acceptance(&def, "enr:-abc").unwrap();
        let chain = 560_048;
        let a = defn::recover_signer(
            &sig,
            Eip712Message::OperatorConfigHash(&format!("0x{}", "ab".repeat(32)), chain),
        )
        .unwrap();
        assert_eq!(a, s.address());
        let enr_sig = body["enr_signature"].as_str().unwrap();
        let a = defn::recover_signer(enr_sig, Eip712Message::Enr("enr:-abc", chain)).unwrap();
        assert_eq!(a, s.address());
        assert_eq!(body["version"], json!("v1.10.0"));
        assert_eq!(body["fork_version"], json!("0x10000910"));
        assert!(!format!("{s:?}").contains("1111"));
        // The T&C vector from the spec (§1.9).
        assert_eq!(
            s.sign_terms().unwrap(),
            "0xc631dc91211bba4eba7566fafa8b584ecd91973c27147f98fe53155f2b492e3500f17b10955de79eab8b9ed2dd4bdbaebc99f5580d240ac4b1f6acc47f319ec31b"
        );
        let unknown_net = typed(json!({
            "version": "v1.10.0",
            "config_hash": format!("0x{}", "ab".repeat(32)),
            "fork_version": "0x12345678",
        }));
        assert!(s.acceptance(&unknown_net, "enr:-abc").is_err());
        let old = typed(json!({
            "version": "v1.3.0",
            "config_hash": format!("0x{}", "ab".repeat(32)),
            "fork_version": "0x10000910",
        }));
        assert!(s.acceptance(&old, "enr:-abc").is_err());
    }
}
