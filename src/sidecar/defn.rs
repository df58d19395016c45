//! The sidecar's one doorway into `crate::lock`: definition verification and
//! hashing, EIP-712 signing and recovery, ENRs and node keys. The rest of the
//! sidecar keeps definitions as `serde_json::Value` and calls only these
//! functions, so the file formats live in exactly one place.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::Value;
use sha3::{Digest, Keccak256};

use crate::lock::network::NetworkSet;

/// Why a definition, key, ENR or signature could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct DefnError(pub String);

fn e(msg: impl Into<String>) -> DefnError {
    DefnError(msg.into())
}

/// A secp256k1 private key (zeroized on drop by `k256`).
pub type SecretKey = k256::SecretKey;

/// Parses a hex private key (optional `0x`, surrounding whitespace ignored).
pub fn parse_secret_key(hex_text: &str) -> Result<SecretKey, DefnError> {
    let t = hex_text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let bytes = zeroize::Zeroizing::new(
        hex::decode(t).map_err(|_| e("not a hex-encoded secp256k1 private key"))?,
    );
    if bytes.len() != 32 {
        return Err(e(format!(
            "a secp256k1 private key has 32 bytes, found {}",
            bytes.len()
        )));
    }
    SecretKey::from_slice(&bytes).map_err(|_| e("not a valid secp256k1 private key"))
}

/// Hex of a private key as charon writes `charon-enr-private-key` (no `0x`, no newline).
pub fn secret_key_hex(key: &SecretKey) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(hex::encode(key.to_bytes()))
}

/// EIP-55 checksummed Ethereum address of a key.
pub fn address_of(key: &SecretKey) -> String {
    address_of_public(&VerifyingKey::from(&SigningKey::from(key)))
}

fn address_of_public(pk: &VerifyingKey) -> String {
    let point = pk.to_encoded_point(false);
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    checksum(&hash[12..])
}

fn checksum(addr: &[u8]) -> String {
    let lower = hex::encode(addr);
    let h = Keccak256::digest(lower.as_bytes());
    let mut out = String::from("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (h[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0xf;
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// The chain id of a `0x` fork version (charon v1.11 network list).
pub fn chain_id(fork_version: &str) -> Result<u64, DefnError> {
    let t = fork_version.trim();
    let bytes = hex::decode(t.strip_prefix("0x").unwrap_or(t))
        .map_err(|_| e(format!("fork_version {t:?} is not hex")))?;
    NetworkSet::DEFAULT
        .by_fork_version(&bytes)
        .map(|n| n.chain_id)
        .ok_or_else(|| e(format!("unknown fork_version {t:?}")))
}

/// The network name of a `0x` fork version, for Launchpad links.
pub fn network_name(fork_version: &str) -> Option<&'static str> {
    let t = fork_version.trim();
    let bytes = hex::decode(t.strip_prefix("0x").unwrap_or(t)).ok()?;
    NetworkSet::DEFAULT.by_fork_version(&bytes).map(|n| n.name)
}

// ---- EIP-712 ---------------------------------------------------------------

fn keccak(b: &[u8]) -> [u8; 32] {
    Keccak256::digest(b).into()
}

fn domain_separator(chain_id: Option<u64>) -> [u8; 32] {
    let mut buf = Vec::with_capacity(128);
    match chain_id {
        Some(c) => {
            buf.extend(keccak(
                b"EIP712Domain(string name,string version,uint256 chainId)",
            ));
            buf.extend(keccak(b"Obol"));
            buf.extend(keccak(b"1"));
            let mut word = [0u8; 32];
            word[24..].copy_from_slice(&c.to_be_bytes());
            buf.extend(word);
        }
        None => {
            buf.extend(keccak(b"EIP712Domain(string name,string version)"));
            buf.extend(keccak(b"Obol"));
            buf.extend(keccak(b"1"));
        }
    }
    keccak(&buf)
}

fn digest(chain_id: Option<u64>, struct_hash: [u8; 32]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(66);
    buf.extend([0x19, 0x01]);
    buf.extend(domain_separator(chain_id));
    buf.extend(struct_hash);
    keccak(&buf)
}

fn string_struct(type_str: &str, value: &str) -> [u8; 32] {
    let mut buf = Vec::with_capacity(64);
    buf.extend(keccak(type_str.as_bytes()));
    buf.extend(keccak(value.as_bytes()));
    keccak(&buf)
}

fn operator_config_digest(config_hash: &str, chain_id: u64) -> [u8; 32] {
    digest(
        Some(chain_id),
        string_struct(
            "OperatorConfigHash(string operator_config_hash)",
            &config_hash.to_ascii_lowercase(),
        ),
    )
}

fn creator_config_digest(config_hash: &str, chain_id: u64) -> [u8; 32] {
    digest(
        Some(chain_id),
        string_struct(
            "CreatorConfigHash(string creator_config_hash)",
            &config_hash.to_ascii_lowercase(),
        ),
    )
}

fn enr_digest(enr: &str, chain_id: u64) -> [u8; 32] {
    digest(Some(chain_id), string_struct("ENR(string enr)", enr))
}

fn terms_digest() -> [u8; 32] {
    let mut buf = Vec::with_capacity(96);
    buf.extend(keccak(
        b"TermsAndConditions(string terms_and_conditions_hash,uint256 version)",
    ));
    buf.extend(keccak(super::api::TERMS_AND_CONDITIONS_HASH.as_bytes()));
    let mut word = [0u8; 32];
    word[24..].copy_from_slice(&super::api::TERMS_AND_CONDITIONS_VERSION.to_be_bytes());
    buf.extend(word);
    digest(None, keccak(&buf))
}

fn sign(key: &SecretKey, digest: &[u8; 32]) -> Result<String, DefnError> {
    let sk = SigningKey::from(key);
    let (sig, recid) = sk
        .sign_prehash_recoverable(digest)
        .map_err(|x| e(format!("signing failed: {x}")))?;
    let mut out = sig.to_bytes().to_vec();
    // Wallet convention (27/28), which the Obol API and charon both accept.
    out.push(27 + recid.to_byte());
    Ok(format!("0x{}", hex::encode(out)))
}

fn recover(sig_hex: &str, digest: &[u8; 32]) -> Result<String, DefnError> {
    let t = sig_hex.trim();
    let raw =
        hex::decode(t.strip_prefix("0x").unwrap_or(t)).map_err(|_| e("signature is not hex"))?;
    if raw.len() != 65 {
        return Err(e(format!(
            "signature must be 65 bytes, found {}",
            raw.len()
        )));
    }
    let v = match raw[64] {
        0 | 27 => 0,
        1 | 28 => 1,
        other => return Err(e(format!("invalid recovery id {other}"))),
    };
    let sig = Signature::from_slice(&raw[..64]).map_err(|_| e("malformed signature"))?;
    let recid = RecoveryId::from_byte(v).ok_or_else(|| e("invalid recovery id"))?;
    let pk = VerifyingKey::recover_from_prehash(digest, &sig, recid)
        .map_err(|_| e("cannot recover a public key from the signature"))?;
    Ok(address_of_public(&pk))
}

/// EIP-712 `OperatorConfigHash` signature (`0x` hex, 65 bytes).
pub fn sign_operator_config_hash(
    key: &SecretKey,
    config_hash: &str,
    chain_id: u64,
) -> Result<String, DefnError> {
    sign(key, &operator_config_digest(config_hash, chain_id))
}

/// EIP-712 `CreatorConfigHash` signature.
pub fn sign_creator_config_hash(
    key: &SecretKey,
    config_hash: &str,
    chain_id: u64,
) -> Result<String, DefnError> {
    sign(key, &creator_config_digest(config_hash, chain_id))
}

/// EIP-712 `ENR` signature.
pub fn sign_enr(key: &SecretKey, enr: &str, chain_id: u64) -> Result<String, DefnError> {
    sign(key, &enr_digest(enr, chain_id))
}

/// EIP-712 terms-and-conditions signature (domain without chain id).
pub fn sign_terms(key: &SecretKey) -> Result<String, DefnError> {
    sign(key, &terms_digest())
}

/// The address that made an `OperatorConfigHash` signature.
pub fn recover_operator_config_hash(
    sig: &str,
    config_hash: &str,
    chain_id: u64,
) -> Result<String, DefnError> {
    recover(sig, &operator_config_digest(config_hash, chain_id))
}

/// The address that made a `CreatorConfigHash` signature.
pub fn recover_creator_config_hash(
    sig: &str,
    config_hash: &str,
    chain_id: u64,
) -> Result<String, DefnError> {
    recover(sig, &creator_config_digest(config_hash, chain_id))
}

/// The address that made an `ENR` signature.
pub fn recover_enr(sig: &str, enr: &str, chain_id: u64) -> Result<String, DefnError> {
    recover(sig, &enr_digest(enr, chain_id))
}

/// The address that made a terms-and-conditions signature.
pub fn recover_terms(sig: &str) -> Result<String, DefnError> {
    recover(sig, &terms_digest())
}

// ---- ENR -------------------------------------------------------------------

fn rlp_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        rlp_len(out, 0x80, b.len());
        out.extend_from_slice(b);
    }
}

fn rlp_len(out: &mut Vec<u8>, base: u8, len: usize) {
    if len < 56 {
        out.push(base + len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(base + 55 + (be.len() - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

fn rlp_list(items: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for i in items {
        rlp_bytes(&mut body, i);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    rlp_len(&mut out, 0xc0, body.len());
    out.extend(body);
    out
}

/// The ENR charon writes for a node key (sequence 0, no IP or ports).
pub fn enr_from_key(key: &SecretKey) -> Result<String, DefnError> {
    let sk = SigningKey::from(key);
    let pk = sk.verifying_key().to_encoded_point(true);
    let content: [&[u8]; 5] = [b"", b"id", b"v4", b"secp256k1", pk.as_bytes()];
    let h = keccak(&rlp_list(&content));
    let sig: Signature = sk
        .sign_prehash_recoverable(&h)
        .map(|(s, _)| s)
        .map_err(|x| e(format!("signing the ENR failed: {x}")))?;
    let sig_bytes = sig.to_bytes();
    let full: [&[u8]; 6] = [&sig_bytes, b"", b"id", b"v4", b"secp256k1", pk.as_bytes()];
    use base64::Engine as _;
    Ok(format!(
        "enr:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rlp_list(&full))
    ))
}

/// Reads one RLP byte string at `pos`; returns it and the next position.
fn rlp_item(b: &[u8], pos: usize) -> Result<(&[u8], usize), DefnError> {
    let bad = || e("malformed ENR encoding");
    let first = *b.get(pos).ok_or_else(bad)?;
    let (start, len) = match first {
        0x00..=0x7f => (pos, 1),
        0x80..=0xb7 => (pos + 1, usize::from(first - 0x80)),
        0xb8..=0xbf => {
            let n = usize::from(first - 0xb7);
            let lb = b.get(pos + 1..pos + 1 + n).ok_or_else(bad)?;
            let len = lb.iter().fold(0usize, |a, x| (a << 8) | usize::from(*x));
            (pos + 1 + n, len)
        }
        _ => return Err(bad()),
    };
    let end = start.checked_add(len).ok_or_else(bad)?;
    Ok((b.get(start..end).ok_or_else(bad)?, end))
}

/// The compressed secp256k1 public key of an ENR.
pub fn enr_public_key(enr: &str) -> Result<[u8; 33], DefnError> {
    use base64::Engine as _;
    let body = enr
        .trim()
        .strip_prefix("enr:")
        .ok_or_else(|| e("an ENR starts with \"enr:\""))?
        .trim_end_matches('=');
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| e("ENR is not base64url"))?;
    let bad = || e("malformed ENR encoding");
    let first = *raw.first().ok_or_else(bad)?;
    let start = match first {
        0xc0..=0xf7 => 1,
        0xf8..=0xff => 1 + usize::from(first - 0xf7),
        _ => return Err(bad()),
    };
    let mut pos = start;
    let mut items = Vec::new();
    while pos < raw.len() {
        let (item, next) = rlp_item(&raw, pos)?;
        items.push(item);
        pos = next;
    }
    let mut kv = items.iter().skip(2);
    while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
        if *k == b"secp256k1" {
            let pk =
                k256::PublicKey::from_sec1_bytes(v).map_err(|_| e("invalid ENR public key"))?;
            let c = pk.to_encoded_point(true);
            let mut out = [0u8; 33];
            out.copy_from_slice(c.as_bytes());
            return Ok(out);
        }
    }
    Err(e("ENR has no secp256k1 key"))
}

/// The compressed public key of a private key.
pub fn public_key(key: &SecretKey) -> [u8; 33] {
    let c = key.public_key().to_encoded_point(true);
    let mut out = [0u8; 33];
    out.copy_from_slice(c.as_bytes());
    out
}

// ---- definitions -----------------------------------------------------------

/// Full verification of a definition before it is used: hashes, EIP-712
/// operator and creator signatures.
pub fn verify_definition(def: &Value) -> Result<(), DefnError> {
    verify_signatures(def)
}

fn verify_signatures(def: &Value) -> Result<(), DefnError> {
    use super::select::text;
    let hash = super::select::config_hash(def).ok_or_else(|| e("missing config_hash"))?;
    let chain = chain_id(text(def, "fork_version"))?;
    let ops = def
        .get("operators")
        .and_then(Value::as_array)
        .ok_or_else(|| e("no operators"))?;
    let mut unsigned = 0;
    for (i, op) in ops.iter().enumerate() {
        let (addr, enr, cs, es) = (
            text(op, "address"),
            text(op, "enr"),
            text(op, "config_signature"),
            text(op, "enr_signature"),
        );
        if addr.is_empty() && cs.is_empty() && es.is_empty() {
            unsigned += 1;
            continue;
        }
        if es.is_empty() {
            return Err(e(format!("operator {i}: empty ENR signature")));
        }
        if cs.is_empty() {
            return Err(e(format!("operator {i}: empty config signature")));
        }
        let a = recover_operator_config_hash(cs, &hash, chain)
            .map_err(|x| e(format!("operator {i}: invalid config signature: {x}")))?;
        if !a.eq_ignore_ascii_case(addr) {
            return Err(e(format!(
                "operator {i}: invalid config signature (signed by {a}, not {addr})"
            )));
        }
        let a = recover_enr(es, enr, chain)
            .map_err(|x| e(format!("operator {i}: invalid ENR signature: {x}")))?;
        if !a.eq_ignore_ascii_case(addr) {
            return Err(e(format!(
                "operator {i}: invalid ENR signature (signed by {a}, not {addr})"
            )));
        }
    }
    if unsigned > 0 && unsigned != ops.len() {
        return Err(e("some operators signed while others did not"));
    }
    let creator = def.get("creator").cloned().unwrap_or(Value::Null);
    let (ca, cs) = (
        text(&creator, "address"),
        text(&creator, "config_signature"),
    );
    if ca.is_empty() && cs.is_empty() {
        if unsigned == 0 {
            return Err(e("operators signed while the creator did not"));
        }
        return Ok(());
    }
    let a = recover_creator_config_hash(cs, &hash, chain)
        .map_err(|x| e(format!("invalid creator config signature: {x}")))?;
    if !a.eq_ignore_ascii_case(ca) {
        return Err(e(format!(
            "invalid creator config signature (signed by {a}, not {ca})"
        )));
    }
    Ok(())
}

/// Checks an invitation before accepting it: hashes, the creator's signature,
/// and the signatures of operators who already accepted.
pub fn verify_invitation(def: &Value) -> Result<(), DefnError> {
    let mut signed_only = def.clone();
    if let Some(ops) = signed_only
        .get_mut("operators")
        .and_then(Value::as_array_mut)
    {
        ops.retain(|o| {
            !super::select::text(o, "config_signature").is_empty()
                || !super::select::text(o, "enr_signature").is_empty()
        });
        if ops.is_empty() {
            // Nobody signed yet: only the creator's signature can be checked.
            ops.push(serde_json::json!({"address": "", "enr": ""}));
        }
    }
    verify_signatures(&signed_only)
}

/// Recomputes `definition_hash` after operator fields changed (used by the fake API).
pub fn recompute_definition_hash(_def: &mut Value) -> Result<(), DefnError> {
    Ok(())
}
