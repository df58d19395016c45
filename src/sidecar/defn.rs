//! The sidecar's one doorway into `crate::lock`: definition verification and
//! hashing, EIP-712 signing and recovery, ENRs and node keys. The rest of the
//! sidecar keeps definitions as `serde_json::Value` and calls only these
//! functions, so the file formats live in exactly one place.

use serde_json::Value;

use crate::dkg::erc1271::{ContractCheckError, ExecutionClient};
pub use crate::lock::definition::Definition;
use crate::lock::definition::{Creator, Operator, ValidatorAddresses};
use crate::lock::eip712;
use crate::lock::enr::Enr;
use crate::lock::k1::{self, K1Secret};
use crate::lock::network::NetworkSet;
use crate::lock::verify::{
    VerifyOptions, verify_definition_hashes, verify_definition_signatures,
    verify_definition_signatures_deferred,
};
use crate::lock::version::Version;

/// Why a definition, key, ENR or signature could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct DefnError(pub String);

fn e(msg: impl Into<String>) -> DefnError {
    DefnError(msg.into())
}

/// A secp256k1 private key; never shown by `Debug`, zeroized on drop.
pub type SecretKey = K1Secret;

/// Parses a hex private key (optional `0x`, surrounding whitespace ignored).
pub fn parse_secret_key(hex_text: &str) -> Result<SecretKey, DefnError> {
    let t = hex_text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    if t.len() != 64 {
        return Err(e(format!(
            "a secp256k1 private key is 64 hex digits, found {} characters",
            t.len()
        )));
    }
    K1Secret::from_hex(t).map_err(|_| e("not a valid hex-encoded secp256k1 private key"))
}

/// Hex of a private key as charon writes `charon-enr-private-key` (no `0x`, no newline).
pub fn secret_key_hex(key: &SecretKey) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(hex::encode(*key.to_bytes()))
}

/// A fresh random key.
pub fn random_key() -> SecretKey {
    K1Secret::random()
}

/// EIP-55 checksummed Ethereum address of a key.
pub fn address_of(key: &SecretKey) -> String {
    k1::checksum_address(&k1::address_from_pubkey(&key.public_key()))
}

/// The compressed public key of a private key.
pub fn public_key(key: &SecretKey) -> [u8; 33] {
    k1::compressed(&key.public_key())
}

fn fork_bytes(fork_version: &str) -> Result<Vec<u8>, DefnError> {
    let t = fork_version.trim();
    hex::decode(t.strip_prefix("0x").unwrap_or(t))
        .map_err(|_| e(format!("fork_version {t:?} is not hex")))
}

/// The chain id of a `0x` fork version (charon v1.11 network list).
pub fn chain_id(fork_version: &str) -> Result<u64, DefnError> {
    eip712::chain_id(&fork_bytes(fork_version)?, NetworkSet::DEFAULT)
        .ok_or_else(|| e(format!("unknown fork_version {:?}", fork_version.trim())))
}

/// The network name of a `0x` fork version, for Launchpad links.
pub fn network_name(fork_version: &str) -> Option<&'static str> {
    NetworkSet::DEFAULT
        .by_fork_version(&fork_bytes(fork_version).ok()?)
        .map(|n| n.name)
}

fn hash_bytes(config_hash: &str) -> Result<Vec<u8>, DefnError> {
    let t = config_hash.trim();
    let b = hex::decode(t.strip_prefix("0x").unwrap_or(t))
        .map_err(|_| e(format!("config hash {t:?} is not hex")))?;
    if b.len() != 32 {
        return Err(e(format!("config hash {t:?} is not 32 bytes")));
    }
    Ok(b)
}

/// An EIP-712 message the sidecar signs or recovers the signer of. Config
/// hashes are `0x` hex; the `u64` is the network's chain id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eip712Message<'a> {
    /// `OperatorConfigHash`: an operator approves a definition's config hash.
    OperatorConfigHash(&'a str, u64),
    /// `CreatorConfigHash`: the creator publishes a definition.
    CreatorConfigHash(&'a str, u64),
    /// `ENR`: an operator vouches for its node's ENR (`enr:-...`).
    Enr(&'a str, u64),
    /// The terms and conditions (domain without chain id).
    Terms,
}

impl Eip712Message<'_> {
    fn digest(&self) -> Result<[u8; 32], DefnError> {
        Ok(match *self {
            Eip712Message::OperatorConfigHash(hash, chain_id) => {
                eip712::operator_config_digest(Version::V1_4, &hash_bytes(hash)?, chain_id)
            }
            Eip712Message::CreatorConfigHash(hash, chain_id) => {
                eip712::creator_config_digest(&hash_bytes(hash)?, chain_id)
            }
            Eip712Message::Enr(enr, chain_id) => eip712::enr_digest(enr, chain_id),
            Eip712Message::Terms => eip712::terms_digest(),
        })
    }
}

/// The EIP-712 signature of `msg` (`0x` hex, 65 bytes, V = 27/28).
pub fn sign_message(key: &SecretKey, msg: Eip712Message<'_>) -> Result<String, DefnError> {
    let mut sig = k1::sign65(key, &msg.digest()?).map_err(|x| e(format!("signing failed: {x}")))?;
    // Wallet convention (V = 27/28), as the Launchpad sends; charon accepts both.
    sig[64] += 27;
    Ok(format!("0x{}", hex::encode(sig)))
}

/// The address that made `sig_hex`, an EIP-712 signature of `msg`.
pub fn recover_signer(sig_hex: &str, msg: Eip712Message<'_>) -> Result<String, DefnError> {
    let digest = &msg.digest()?;
    let t = sig_hex.trim();
    let raw =
        hex::decode(t.strip_prefix("0x").unwrap_or(t)).map_err(|_| e("signature is not hex"))?;
    let pk = k1::recover65(digest, &raw).map_err(|x| e(x.to_string()))?;
    Ok(k1::checksum_address(&k1::address_from_pubkey(&pk)))
}

/// The ENR charon writes for a node key (sequence 0, no IP or ports).
pub fn enr_from_key(key: &SecretKey) -> Result<String, DefnError> {
    Enr::new(key, None, None, None)
        .map(|r| r.to_string())
        .map_err(|x| e(format!("cannot create the ENR: {x}")))
}

/// The compressed secp256k1 public key of an ENR (its signature is checked).
pub fn enr_public_key(enr: &str) -> Result<[u8; 33], DefnError> {
    Enr::parse(enr.trim())
        .map(|r| k1::compressed(r.public_key()))
        .map_err(|x| e(format!("invalid ENR: {x}")))
}

// ---- definitions -----------------------------------------------------------

/// The one parse of a definition the sidecar does: charon's reader
/// (case-insensitive keys, the last repeated key wins, `null` as empty), so
/// everything checked, signed and written later comes from this typed value
/// and never from a differently-read copy of the JSON.
pub fn parse_definition(def: &Value) -> Result<Definition, DefnError> {
    let bytes = serde_json::to_vec(def).map_err(|x| e(x.to_string()))?;
    parse_definition_bytes(&bytes)
}

/// [`parse_definition`] of raw bytes (a definition file).
pub fn parse_definition_bytes(bytes: &[u8]) -> Result<Definition, DefnError> {
    Definition::from_json(bytes).map_err(|x| e(format!("cannot read the definition: {x}")))
}

fn parse(def: &Value) -> Result<Definition, DefnError> {
    parse_definition(def)
}

/// `0x` + lower-case hex of a definition's stored config hash.
pub fn config_hash_hex(d: &Definition) -> String {
    format!("0x{}", hex::encode(&d.config_hash))
}

/// `0x` hex of a definition's fork version, as the API and EIP-712 use it.
pub fn fork_version_hex(d: &Definition) -> String {
    format!("0x{}", hex::encode(&d.fork_version))
}

/// Whether no operator signed: an ENR-mode definition, which carries no
/// operator's consent (only a creator's, often a throw-away key).
pub fn is_unsigned(d: &Definition) -> bool {
    d.operators
        .iter()
        .all(|o| o.config_signature.is_empty() && o.enr_signature.is_empty())
}

/// Full verification of a definition before the DKG uses it, as `charon dkg`
/// does: a version the DKG supports (v1.6+), hashes, and every EIP-712 signature.
pub fn verify_definition(def: &Value) -> Result<(), DefnError> {
    verify_typed(&parse(def)?)
}

/// [`verify_definition`] of a parsed definition.
pub fn verify_typed(d: &Definition) -> Result<(), DefnError> {
    if d.version < Version::V1_6 {
        return Err(e(format!(
            "definition version {} is too old for the DKG (v1.6.0 or later needed)",
            d.version.as_str()
        )));
    }
    crate::lock::verify::verify_definition(d, &VerifyOptions::CHARON).map_err(|x| e(x.to_string()))
}

/// [`verify_typed`], tolerating one known API inconsistency: a
/// `definition_hash` never updated after operators accepted (it still equals
/// the hash with every operator's ENR and signatures blank, as first published).
/// The content is authenticated by the config hash and the signatures, so the
/// hash is recomputed; any other mismatch is rejected. Returns what the DKG uses.
pub fn verified_for_dkg(d: &Definition) -> Result<Definition, DefnError> {
    let first = match verify_typed(d) {
        Ok(()) => return Ok(d.clone()),
        Err(err) => err,
    };
    let fixed = stale_hash_fixed(d, first)?;
    verify_typed(&fixed)?;
    warn_stale_hash();
    Ok(fixed)
}

/// `d` with its hashes recomputed if its `definition_hash` is the stale one
/// the API serves (see [`verified_for_dkg`]); otherwise the first error.
fn stale_hash_fixed(d: &Definition, first: DefnError) -> Result<Definition, DefnError> {
    let stale = d
        .config_hash()
        .is_ok_and(|h| h.as_slice() == d.config_hash.as_slice())
        && {
            let mut blank = d.clone();
            for o in &mut blank.operators {
                o.enr.clear();
                o.config_signature.clear();
                o.enr_signature.clear();
            }
            blank
                .definition_hash()
                .is_ok_and(|h| h.as_slice() == d.definition_hash.as_slice())
        };
    if !stale {
        return Err(first);
    }
    d.with_hashes().map_err(|x| e(x.to_string()))
}

fn warn_stale_hash() {
    tracing::warn!(
        "The Obol API served a definition_hash that was not updated after operators accepted; using the recomputed hash"
    );
}

/// Checks an invitation before accepting it: hashes, the creator's signature,
/// and the signatures of operators who already accepted.
pub fn verify_invitation(def: &Value) -> Result<(), DefnError> {
    verify_invitation_typed(&parse(def)?)
}

/// [`verify_invitation`] of a parsed definition.
pub fn verify_invitation_typed(d: &Definition) -> Result<(), DefnError> {
    verify_definition_hashes(d).map_err(|x| e(x.to_string()))?;
    verify_definition_signatures(&signed_only(d), &VerifyOptions::CHARON)
        .map_err(|x| e(x.to_string()))
}

/// `d` without the operators who have not accepted yet.
fn signed_only(d: &Definition) -> Definition {
    let mut d = d.clone();
    d.operators
        .retain(|o| !o.config_signature.is_empty() || !o.enr_signature.is_empty());
    d
}

/// Charon's bytes of a definition, as written for the DKG.
pub fn definition_bytes(d: &Definition) -> Result<Vec<u8>, DefnError> {
    d.to_json().map_err(|x| e(x.to_string()))
}

/// Verifies a lock fetched by hash: its `lock_hash` is the one asked for, every
/// hash recomputes (so no byte of content was changed), and the definition's
/// EIP-712 signatures hold. Returns charon's bytes for it.
///
/// The BLS checks of `lock::verify_lock` (aggregate and node signatures) are
/// left to charon at start-up: they need share reconstruction, which the
/// lock module does not offer yet.
pub fn verify_lock(lock: &Value, expected_hash: &str) -> Result<Vec<u8>, DefnError> {
    let l = lock_with_hashes_checked(lock, expected_hash)?;
    verify_definition_signatures(&l.definition, &VerifyOptions::CHARON)
        .map_err(|x| e(x.to_string()))?;
    l.to_json().map_err(|x| e(x.to_string()))
}

/// The lock, once its `lock_hash` is the one asked for and every hash recomputes.
fn lock_with_hashes_checked(
    lock: &Value,
    expected_hash: &str,
) -> Result<crate::lock::Lock, DefnError> {
    let bytes = serde_json::to_vec(lock).map_err(|x| e(x.to_string()))?;
    let l = crate::lock::Lock::from_json(&bytes)
        .map_err(|x| e(format!("cannot read the lock: {x}")))?;
    let got = format!("0x{}", hex::encode(&l.lock_hash));
    if !got.eq_ignore_ascii_case(expected_hash.trim()) {
        return Err(e(format!("its lock_hash is {got}, not {expected_hash}")));
    }
    crate::lock::verify::verify_lock_hashes(&l).map_err(|x| e(x.to_string()))?;
    Ok(l)
}

// ---- with an execution client (contract-wallet signatures) ------------------

/// Why a definition or lock is not usable when contract-wallet (ERC-1271)
/// signatures are put to an execution client: either it is invalid, or the
/// client gave no verdict, which is worth retrying rather than a rejection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// It is invalid.
    #[error(transparent)]
    Invalid(DefnError),
    /// A contract-wallet signature could not be checked yet.
    #[error("{0}")]
    Unchecked(String),
}

impl From<DefnError> for CheckError {
    fn from(e: DefnError) -> Self {
        CheckError::Invalid(e)
    }
}

/// A definition's signatures; with a client, those that are not valid EOA
/// signatures are accepted only if their signer's contract accepts them.
async fn check_signatures(
    d: &Definition,
    client: Option<&ExecutionClient>,
) -> Result<(), CheckError> {
    let invalid = |x: crate::lock::error::VerifyError| CheckError::Invalid(e(x.to_string()));
    let Some(client) = client else {
        return verify_definition_signatures(d, &VerifyOptions::CHARON).map_err(invalid);
    };
    let pending =
        verify_definition_signatures_deferred(d, &VerifyOptions::CHARON).map_err(invalid)?;
    client.check(pending).await.map_err(|x| match x {
        ContractCheckError::Rejected(v) => invalid(v),
        other => CheckError::Unchecked(other.to_string()),
    })
}

/// [`verify_typed`] with contract-wallet signatures put to `client`.
pub async fn verify_typed_with(
    d: &Definition,
    client: Option<&ExecutionClient>,
) -> Result<(), CheckError> {
    if d.version < Version::V1_6 {
        // The same rejection as the offline check's.
        return verify_typed(d).map_err(CheckError::Invalid);
    }
    verify_definition_hashes(d).map_err(|x| e(x.to_string()))?;
    check_signatures(d, client).await
}

/// [`verified_for_dkg`] with contract-wallet signatures put to `client`.
pub async fn verified_for_dkg_with(
    d: &Definition,
    client: Option<&ExecutionClient>,
) -> Result<Definition, CheckError> {
    let first = match verify_typed_with(d, client).await {
        Ok(()) => return Ok(d.clone()),
        Err(CheckError::Invalid(err)) => err,
        Err(unchecked) => return Err(unchecked),
    };
    let fixed = stale_hash_fixed(d, first)?;
    verify_typed_with(&fixed, client).await?;
    warn_stale_hash();
    Ok(fixed)
}

/// [`verify_invitation_typed`] with contract-wallet signatures put to `client`.
pub async fn verify_invitation_with(
    d: &Definition,
    client: Option<&ExecutionClient>,
) -> Result<(), CheckError> {
    verify_definition_hashes(d).map_err(|x| e(x.to_string()))?;
    check_signatures(&signed_only(d), client).await
}

/// [`verify_lock`] with contract-wallet signatures put to `client`.
pub async fn verify_lock_with(
    lock: &Value,
    expected_hash: &str,
    client: Option<&ExecutionClient>,
) -> Result<Vec<u8>, CheckError> {
    let l = lock_with_hashes_checked(lock, expected_hash)?;
    check_signatures(&l.definition, client).await?;
    Ok(l.to_json().map_err(|x| e(x.to_string()))?)
}

/// Re-serialises a definition with its hashes recomputed (the fake API does this
/// after an operator accepted, as the real API must for charon to accept it).
pub fn recompute_definition_hash(def: &mut Value) -> Result<(), DefnError> {
    let d = parse(def)?;
    let bytes = d.to_json().map_err(|x| e(x.to_string()))?;
    *def = serde_json::from_slice(&bytes).map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// What a new cluster definition contains (the creator's choices).
#[derive(Debug, Clone)]
pub struct NewDefinition {
    /// Cluster name.
    pub name: String,
    /// Operator addresses, in order.
    pub operators: Vec<String>,
    /// ENR-mode (`charon create dkg --operator-enrs`): the operators' ENRs,
    /// with empty addresses and no operator signatures.
    pub enrs: Option<Vec<String>>,
    /// Signature threshold.
    pub threshold: u64,
    /// Number of validators.
    pub num_validators: u64,
    /// Genesis fork version of the network.
    pub fork_version: [u8; 4],
    /// Fee recipient of every validator.
    pub fee_recipient: String,
    /// Withdrawal address of every validator.
    pub withdrawal_address: String,
    /// RFC 3339 creation time.
    pub timestamp: String,
}

/// Builds a v1.10.0 definition with correct hashes, signed by `creator`, every
/// operator still to accept (as the Launchpad publishes an invitation).
pub fn new_definition(spec: &NewDefinition, creator: &SecretKey) -> Result<Value, DefnError> {
    let validators = (0..spec.num_validators)
        .map(|_| ValidatorAddresses {
            fee_recipient_address: spec.fee_recipient.clone(),
            withdrawal_address: spec.withdrawal_address.clone(),
        })
        .collect();
    let d = Definition {
        version: Version::V1_10,
        name: spec.name.clone(),
        uuid: uuid::Uuid::new_v4().to_string(),
        timestamp: spec.timestamp.clone(),
        num_validators: spec.num_validators,
        threshold: spec.threshold,
        dkg_algorithm: "default".into(),
        fork_version: spec.fork_version.to_vec(),
        operators: match &spec.enrs {
            Some(enrs) => enrs
                .iter()
                .map(|enr| Operator {
                    enr: enr.clone(),
                    ..Default::default()
                })
                .collect(),
            None => spec
                .operators
                .iter()
                .map(|a| Operator {
                    address: a.clone(),
                    ..Default::default()
                })
                .collect(),
        },
        creator: Creator {
            address: address_of(creator),
            config_signature: Vec::new(),
        },
        validators,
        legacy_addresses: ValidatorAddresses::default(),
        deposit_amounts: None,
        consensus_protocol: String::new(),
        target_gas_limit: 30_000_000,
        compounding: false,
        config_hash: Vec::new(),
        definition_hash: Vec::new(),
    };
    let mut d = d.with_hashes().map_err(|x| e(x.to_string()))?;
    let chain = eip712::chain_id(&d.fork_version, NetworkSet::DEFAULT)
        .ok_or_else(|| e("unknown fork version"))?;
    let digest = eip712::creator_config_digest(&d.config_hash, chain);
    let mut sig = k1::sign65(creator, &digest).map_err(|x| e(x.to_string()))?;
    sig[64] += 27;
    d.creator.config_signature = sig.to_vec();
    let bytes = d.to_json().map_err(|x| e(x.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|x| e(x.to_string()))
}
