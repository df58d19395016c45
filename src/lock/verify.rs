//! Verification of definitions and locks, equal to charon v1.11's
//! `VerifyHashes` + `VerifySignatures` (in the same order, with charon's error
//! texts as check names), plus deposit-data signatures, which charon skips.
//!
//! A signature that is not a valid EOA signature may still be a contract
//! wallet's (ERC-1271, e.g. a Safe). The plain functions reject it, as charon
//! does without an execution client; the `_deferred` ones return it for the
//! caller to ask the contract, so this module stays offline. With deferral,
//! a contract signature's verdict comes after the file's other checks, so a
//! file with several faults may be reported for a different one than charon
//! reports (it is rejected either way).

use std::collections::HashSet;

use rand::Rng;

use crate::frost::bls::{self, PublicKey, Signature};
use crate::frost::curve::{self, G1Affine, Scalar, lagrange_coefficients_at_zero};

use super::contract::{self, ContractSignature, PendingContractSignatures, SignatureRole};
use super::definition::Definition;
use super::eip712;
use super::enr::Enr;
use super::error::{Subject, VerifyError};
use super::k1::{self, K1Error};
use super::lockfile::{DepositData, Lock};
use super::network::NetworkSet;
use super::signing;
use super::version::Version;

/// Most operators a lock may have for its shares to be checked.
pub const MAX_VERIFIED_OPERATORS: usize = 1024;

/// What to verify and against which networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Networks whose fork versions are known (holesky only if allowed).
    pub networks: NetworkSet,
    /// Also verify deposit-data signatures and contents (charon does not).
    pub check_deposits: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            networks: NetworkSet::DEFAULT,
            check_deposits: true,
        }
    }
}

impl VerifyOptions {
    /// charon v1.11's exact checks: default networks, no deposit checks.
    pub const CHARON: VerifyOptions = VerifyOptions {
        networks: NetworkSet::DEFAULT,
        check_deposits: false,
    };
}

/// Builds errors for one kind of file.
#[derive(Clone, Copy)]
struct Ctx {
    kind: &'static str,
}

impl Ctx {
    fn err(self, check: &'static str, subject: Subject) -> VerifyError {
        VerifyError::new(self.kind, check, subject)
    }
}

/// Verifies a definition: hashes, then EIP-712 signatures. A signature that
/// is not a valid EOA signature is rejected, as charon does without an
/// execution client.
pub fn verify_definition(d: &Definition, opts: &VerifyOptions) -> Result<(), VerifyError> {
    let cx = Ctx { kind: "definition" };
    definition_hashes(cx, d)?;
    definition_signatures(cx, d, opts, &mut ContractPolicy::Reject)
}

/// [`verify_definition`] for a caller that has an execution client: the
/// signatures only a contract wallet can vouch for are returned instead of
/// rejected, to be checked through ERC-1271 before the file is accepted.
pub fn verify_definition_deferred(
    d: &Definition,
    opts: &VerifyOptions,
) -> Result<PendingContractSignatures, VerifyError> {
    let cx = Ctx { kind: "definition" };
    definition_hashes(cx, d)?;
    let mut pending = Vec::new();
    definition_signatures(cx, d, opts, &mut ContractPolicy::Defer(&mut pending))?;
    Ok(PendingContractSignatures(pending))
}

/// Verifies only a definition's `config_hash` and `definition_hash`.
pub fn verify_definition_hashes(d: &Definition) -> Result<(), VerifyError> {
    definition_hashes(Ctx { kind: "definition" }, d)
}

/// Verifies only a definition's operator and creator signatures.
pub fn verify_definition_signatures(
    d: &Definition,
    opts: &VerifyOptions,
) -> Result<(), VerifyError> {
    definition_signatures(
        Ctx { kind: "definition" },
        d,
        opts,
        &mut ContractPolicy::Reject,
    )
}

/// [`verify_definition_signatures`], returning contract-wallet signatures
/// instead of rejecting them (see [`verify_definition_deferred`]).
pub fn verify_definition_signatures_deferred(
    d: &Definition,
    opts: &VerifyOptions,
) -> Result<PendingContractSignatures, VerifyError> {
    let mut pending = Vec::new();
    definition_signatures(
        Ctx { kind: "definition" },
        d,
        opts,
        &mut ContractPolicy::Defer(&mut pending),
    )?;
    Ok(PendingContractSignatures(pending))
}

/// Verifies a lock as charon's `LoadClusterLock` does, then (if enabled) its
/// deposit data.
pub fn verify_lock(l: &Lock, opts: &VerifyOptions) -> Result<(), VerifyError> {
    lock_all(l, opts, &mut ContractPolicy::Reject)
}

/// [`verify_lock`], returning the definition's contract-wallet signatures
/// instead of rejecting them (see [`verify_definition_deferred`]); every
/// other check of the lock has passed when it returns `Ok`.
pub fn verify_lock_deferred(
    l: &Lock,
    opts: &VerifyOptions,
) -> Result<PendingContractSignatures, VerifyError> {
    let mut pending = Vec::new();
    lock_all(l, opts, &mut ContractPolicy::Defer(&mut pending))?;
    Ok(PendingContractSignatures(pending))
}

fn lock_all(
    l: &Lock,
    opts: &VerifyOptions,
    policy: &mut ContractPolicy<'_>,
) -> Result<(), VerifyError> {
    let cx = Ctx { kind: "lock" };
    lock_hashes(cx, l)?;
    lock_signatures(cx, l, opts, policy)?;
    if opts.check_deposits {
        deposits(cx, l)?;
    }
    Ok(())
}

/// Verifies only a lock's hashes and validator count.
pub fn verify_lock_hashes(l: &Lock) -> Result<(), VerifyError> {
    lock_hashes(Ctx { kind: "lock" }, l)
}

fn definition_hashes(cx: Ctx, d: &Definition) -> Result<(), VerifyError> {
    let config = d.config_hash().map_err(|e| {
        cx.err("cannot compute config hash", Subject::File)
            .with(e.to_string())
    })?;
    if d.config_hash != config {
        return Err(cx.err("invalid config hash", Subject::File).with(format!(
            "file has {}, computed 0x{}",
            show_hex(&d.config_hash),
            hex::encode(config)
        )));
    }
    let def = d.definition_hash().map_err(|e| {
        cx.err("cannot compute definition hash", Subject::File)
            .with(e.to_string())
    })?;
    if d.definition_hash != def {
        return Err(cx
            .err("invalid definition hash", Subject::File)
            .with(format!(
                "file has {}, computed 0x{}",
                show_hex(&d.definition_hash),
                hex::encode(def)
            )));
    }
    Ok(())
}

fn show_hex(b: &[u8]) -> String {
    if b.is_empty() {
        "nothing".into()
    } else {
        format!("0x{}", hex::encode(b))
    }
}

fn lock_hashes(cx: Ctx, l: &Lock) -> Result<(), VerifyError> {
    definition_hashes(cx, &l.definition)?;
    if l.validators.len() as u64 != l.definition.num_validators {
        return Err(cx
            .err("lock validators count mismatch", Subject::File)
            .with(format!(
                "num_validators is {}, the lock has {} distributed validators",
                l.definition.num_validators,
                l.validators.len()
            )));
    }
    let h = l.lock_hash().map_err(|e| {
        cx.err("cannot compute lock hash", Subject::File)
            .with(e.to_string())
    })?;
    if l.lock_hash != h {
        return Err(cx.err("invalid lock hash", Subject::File).with(format!(
            "file has {}, computed 0x{}",
            show_hex(&l.lock_hash),
            hex::encode(h)
        )));
    }
    Ok(())
}

/// What to do with a signature that is not a valid EOA signature by its
/// signer (charon's `verifySigOrERC1271`).
enum ContractPolicy<'a> {
    /// No execution client: reject it, as charon does without one.
    Reject,
    /// Collect it for the caller to check through ERC-1271, as charon does
    /// with an execution client.
    Defer(&'a mut Vec<ContractSignature>),
}

/// Appends advice to a rejection's detail.
fn with_hint(e: VerifyError, address: &str) -> VerifyError {
    let hint = contract::hint(address);
    let detail = match &e.detail {
        Some(d) => format!("{d}; {hint}"),
        None => hint,
    };
    e.with(detail)
}

/// Checks one EIP-712 signature: a 65-byte EOA signature that recovers to
/// `address` passes; anything else is rejected or, if `policy` defers,
/// left for the signer's contract to judge.
fn signature_check(
    cx: Ctx,
    address: &str,
    digest: &[u8; 32],
    sig: &[u8],
    role: SignatureRole,
    subject: Subject,
    policy: &mut ContractPolicy<'_>,
) -> Result<(), VerifyError> {
    let invalid = role.invalid_check();
    let parse_address = || {
        k1::parse_address(address).map_err(|e| {
            cx.err("invalid ethereum address", subject)
                .with(e.to_string())
        })
    };
    let (signer, not_eoa) = if sig.len() != 65 {
        let not_eoa = cx.err(invalid, subject).with(format!(
            "{}-byte signature is not an EOA signature",
            sig.len()
        ));
        if matches!(policy, ContractPolicy::Reject) {
            // charon without an execution client: invalid, whatever the address.
            return Err(with_hint(not_eoa, address));
        }
        (parse_address()?, not_eoa)
    } else {
        let want = parse_address()?;
        let not_eoa = match k1::recover65(digest, sig) {
            Ok(pk) => {
                let got = k1::address_from_pubkey(&pk);
                if got == want {
                    return Ok(());
                }
                cx.err(invalid, subject).with(format!(
                    "signed by {}, expected {}",
                    k1::checksum_address(&got),
                    address
                ))
            }
            Err(e @ K1Error::RecoveryId(_)) => cx
                .err("invalid recovery id", subject)
                .with(format!("pubkey from signature: {e}")),
            Err(e) => cx.err("pubkey from signature", subject).with(e.to_string()),
        };
        (want, not_eoa)
    };
    match policy {
        ContractPolicy::Reject => Err(with_hint(not_eoa, address)),
        ContractPolicy::Defer(pending) => {
            pending.push(ContractSignature {
                kind: cx.kind,
                role,
                subject,
                signer,
                digest: *digest,
                signature: sig.to_vec(),
                not_eoa: not_eoa.detail.unwrap_or_default(),
            });
            Ok(())
        }
    }
}

fn signature_length(cx: Ctx, v: Version, sig: &[u8], subject: Subject) -> Result<(), VerifyError> {
    if sig.is_empty() {
        return Ok(());
    }
    let bad = |why: String| Err(cx.err("invalid signature length", subject).with(why));
    if v < Version::V1_11 {
        if sig.len() != 65 {
            return bad(format!("signature must be 65 bytes, got {}", sig.len()));
        }
    } else if !sig.len().is_multiple_of(65) {
        return bad(format!(
            "signature must be multiple of 65 bytes, got {}",
            sig.len()
        ));
    } else if sig.len() > 32 * 65 {
        return bad(format!(
            "signature exceeds maximum length: {} bytes",
            sig.len()
        ));
    }
    Ok(())
}

fn definition_signatures(
    cx: Ctx,
    d: &Definition,
    opts: &VerifyOptions,
    policy: &mut ContractPolicy<'_>,
) -> Result<(), VerifyError> {
    let v = d.version;
    if !v.supports_eip712() {
        if let Some(i) = d
            .operators
            .iter()
            .position(|o| !o.config_signature.is_empty() || !o.enr_signature.is_empty())
        {
            return Err(cx.err(
                "older version signatures not supported",
                Subject::Operator(i),
            ));
        }
        return Ok(());
    }
    signature_length(cx, v, &d.creator.config_signature, Subject::Creator)?;
    let chain_id = eip712::chain_id(&d.fork_version, opts.networks).ok_or_else(|| {
        cx.err("invalid fork version", Subject::File).with(format!(
            "no known network has fork version {}",
            show_hex(&d.fork_version)
        ))
    })?;
    let op_digest = eip712::operator_config_digest(v, &d.config_hash, chain_id);

    let mut unsigned = 0usize;
    for (i, o) in d.operators.iter().enumerate() {
        let subject = Subject::Operator(i);
        if o.address.is_empty() && o.enr_signature.is_empty() && o.config_signature.is_empty() {
            unsigned += 1;
            continue;
        }
        if o.enr_signature.is_empty() {
            return Err(cx.err("empty operator enr signature", subject));
        }
        if o.config_signature.is_empty() {
            return Err(cx.err("empty operator config signature", subject));
        }
        signature_length(cx, v, &o.config_signature, subject)?;
        signature_length(cx, v, &o.enr_signature, subject)?;
        signature_check(
            cx,
            &o.address,
            &op_digest,
            &o.config_signature,
            SignatureRole::OperatorConfig,
            subject,
            policy,
        )?;
        let enr_digest = eip712::enr_digest(&o.enr, chain_id);
        signature_check(
            cx,
            &o.address,
            &enr_digest,
            &o.enr_signature,
            SignatureRole::OperatorEnr,
            subject,
            policy,
        )?;
    }
    if unsigned > 0 && unsigned != d.operators.len() {
        return Err(cx.err("some operators signed while others did not", Subject::File));
    }

    let c = &d.creator;
    if v == Version::V1_3 {
        if !c.config_signature.is_empty() {
            return Err(cx.err(
                "unexpected creator config signature in old version",
                Subject::Creator,
            ));
        }
    } else if c.address.is_empty() && c.config_signature.is_empty() {
        if unsigned == 0 {
            return Err(cx.err("operators signed while creator did not", Subject::Creator));
        }
    } else {
        if c.config_signature.is_empty() {
            return Err(cx.err("empty creator config signature", Subject::Creator));
        }
        let digest = eip712::creator_config_digest(&d.config_hash, chain_id);
        signature_check(
            cx,
            &c.address,
            &digest,
            &c.config_signature,
            SignatureRole::CreatorConfig,
            Subject::Creator,
            policy,
        )?;
    }
    Ok(())
}

/// A 48-byte key whose point encoding is checked later (by the batch).
fn raw_pubkey(b: &[u8]) -> Option<PublicKey> {
    b.try_into().ok().map(PublicKey)
}

/// A 96-byte signature whose point encoding is checked later (by the batch).
fn raw_signature(b: &[u8]) -> Option<Signature> {
    b.try_into().ok().map(Signature)
}

fn lock_signatures(
    cx: Ctx,
    l: &Lock,
    opts: &VerifyOptions,
    policy: &mut ContractPolicy<'_>,
) -> Result<(), VerifyError> {
    let d = &l.definition;
    let v = d.version;
    definition_signatures(cx, d, opts, policy)?;

    if l.signature_aggregate.is_empty() {
        if v.uses_base64() {
            // Early `charon create cluster` left it empty; charon stops here.
            return Ok(());
        }
        return Err(cx.err("empty lock aggregate signature", Subject::File));
    }
    // v1.3+ layouts cannot hash more than 256 operators; v1.0-v1.2 have no
    // limit, and checking shares costs O(n * t) interpolations, so a hostile
    // legacy lock could stall us. No real cluster comes near this.
    if d.operators.len() > MAX_VERIFIED_OPERATORS {
        return Err(cx.err("too many operators", Subject::File).with(format!(
            "{} operators; at most {MAX_VERIFIED_OPERATORS} are supported",
            d.operators.len()
        )));
    }
    let agg = Signature::from_bytes(&l.signature_aggregate).map_err(|e| {
        cx.err("verify lock signature aggregate", Subject::File)
            .with(format!(
                "{}-byte signature_aggregate: {e}",
                l.signature_aggregate.len()
            ))
    })?;

    // Structural checks in charon's order, stopping at the first failing DV;
    // the expensive reconstruction checks of the DVs before it are batched.
    let mut seen_keys: HashSet<[u8; 48]> = HashSet::with_capacity(l.validators.len());
    let mut parsed: Vec<ParsedDv> = Vec::with_capacity(l.validators.len());
    let mut structural = None;
    for (i, dv) in l.validators.iter().enumerate() {
        match parse_dv(cx, i, dv, d.operators.len(), &mut seen_keys) {
            Ok(p) => parsed.push(p),
            Err(e) => {
                structural = Some(e);
                break;
            }
        }
    }
    if !batch_reconstruct_ok(&parsed, d.threshold) {
        for (i, p) in parsed.iter().enumerate() {
            shares_reconstruct(cx, i, &p.key, &p.shares, d.threshold)?;
        }
    }
    if let Some(e) = structural {
        return Err(e);
    }

    let all_shares: Vec<PublicKey> = parsed
        .iter()
        .flat_map(|p| p.shares.iter().copied())
        .collect();
    let lock_hash = l.lock_hash().map_err(|e| {
        cx.err("cannot compute lock hash", Subject::File)
            .with(e.to_string())
    })?;
    bls::fast_aggregate_verify(&all_shares, &lock_hash, &agg).map_err(|e| {
        cx.err("verify lock signature aggregate", Subject::File)
            .with(e.to_string())
    })?;

    builder_registrations(cx, l)?;
    node_signatures(cx, l)
}

/// A distributed validator's key and shares, decoded and subgroup-checked.
struct ParsedDv {
    key: PublicKey,
    key_point: G1Affine,
    shares: Vec<PublicKey>,
    share_points: Vec<G1Affine>,
}

fn parse_point(
    cx: Ctx,
    b: &[u8],
    check: &'static str,
    subject: Subject,
) -> Result<(PublicKey, G1Affine), VerifyError> {
    let point = G1Affine::from_compressed(b).map_err(|e| {
        cx.err(check, subject)
            .with(format!("{} bytes: {e}", b.len()))
    })?;
    let arr: [u8; 48] = b
        .try_into()
        .map_err(|_| cx.err(check, subject).with(format!("{} bytes", b.len())))?;
    Ok((PublicKey(arr), point))
}

fn parse_dv(
    cx: Ctx,
    i: usize,
    dv: &super::lockfile::DistValidator,
    operators: usize,
    seen_keys: &mut HashSet<[u8; 48]>,
) -> Result<ParsedDv, VerifyError> {
    if dv.public_shares.len() != operators {
        return Err(cx
            .err("invalid public share count", Subject::Validator(i))
            .with(format!(
                "expected {operators} (one per operator), got {}",
                dv.public_shares.len()
            )));
    }
    let (key, key_point) = parse_point(
        cx,
        &dv.pubkey,
        "invalid distributed public key",
        Subject::Validator(i),
    )?;
    if !seen_keys.insert(key.0) {
        return Err(cx.err(
            "duplicate distributed validator public key",
            Subject::Validator(i),
        ));
    }
    let mut seen_shares: HashSet<[u8; 48]> = HashSet::with_capacity(operators);
    let mut shares = Vec::with_capacity(operators);
    let mut share_points = Vec::with_capacity(operators);
    for (j, s) in dv.public_shares.iter().enumerate() {
        let subject = Subject::Share {
            validator: i,
            share: j,
        };
        let (pk, point) = parse_point(cx, s, "invalid public share", subject)?;
        if !seen_shares.insert(pk.0) {
            return Err(cx.err("duplicate public share", subject));
        }
        shares.push(pk);
        share_points.push(point);
    }
    Ok(ParsedDv {
        key,
        key_point,
        shares,
        share_points,
    })
}

/// Checks every validator's reconstruction equations at once with a random
/// linear combination: for each DV and each subset S charon interpolates
/// (shares `1..t`, and `1..t-1` plus each extra share), `sum λ_S,i P_i = K`.
/// Weighting each equation by a random 128-bit scalar and summing gives one
/// multi-scalar multiplication that is the identity iff (up to 2^-127) every
/// equation holds. `false` means "check one by one".
fn batch_reconstruct_ok(dvs: &[ParsedDv], threshold: u64) -> bool {
    let Some(n) = dvs.first().map(|p| p.shares.len()) else {
        return true;
    };
    let Ok(t) = usize::try_from(threshold) else {
        return false;
    };
    if t < 1 || t > n {
        return false;
    }
    // The subsets are the same for every DV: (share positions, coefficients).
    let mut subsets: Vec<(Vec<usize>, Vec<Scalar>)> = Vec::with_capacity(n - t + 1);
    let mut base: Vec<usize> = (0..t).collect();
    for extra in std::iter::once(None).chain((t..n).map(Some)) {
        if let Some(j) = extra {
            base.truncate(t - 1);
            base.push(j);
        }
        let indices: Vec<u64> = base.iter().map(|&p| p as u64 + 1).collect();
        let Ok(lambdas) = lagrange_coefficients_at_zero(&indices) else {
            return false;
        };
        subsets.push((base.clone(), lambdas));
    }
    let mut rng = rand::thread_rng();
    let mut points = Vec::with_capacity(dvs.len() * (n + 1));
    let mut scalars = Vec::with_capacity(dvs.len() * (n + 1));
    for dv in dvs {
        let mut coeffs = vec![Scalar::zero(); n];
        let mut total = Scalar::zero();
        for (positions, lambdas) in &subsets {
            let r = Scalar::from_u128(rng.r#gen::<u128>() | 1);
            total = total.add(&r);
            for (&p, lambda) in positions.iter().zip(lambdas) {
                if let Some(c) = coeffs.get_mut(p) {
                    *c = c.add(&r.mul(lambda));
                }
            }
        }
        points.extend_from_slice(&dv.share_points);
        scalars.extend(coeffs);
        points.push(dv.key_point);
        scalars.push(total.neg());
    }
    curve::msm(&points, &scalars).is_ok_and(|sum| sum.is_identity())
}

/// Shares `1..t` must interpolate to the group key, and every further share
/// must lie on the same polynomial (with shares `1..t-1`).
fn shares_reconstruct(
    cx: Ctx,
    validator: usize,
    key: &PublicKey,
    shares: &[PublicKey],
    threshold: u64,
) -> Result<(), VerifyError> {
    let subject = Subject::Validator(validator);
    let t = usize::try_from(threshold).unwrap_or(usize::MAX);
    if t < 1 || t > shares.len() {
        return Err(cx.err("invalid threshold", subject).with(format!(
            "threshold {threshold} with {} shares",
            shares.len()
        )));
    }
    let indexed: Vec<(u64, PublicKey)> = shares
        .iter()
        .enumerate()
        .map(|(j, s)| (j as u64 + 1, *s))
        .collect();
    let base = indexed.get(..t).unwrap_or_default();
    let check = |subset: &[(u64, PublicKey)], check: &'static str, subject: Subject| {
        match bls::combine_public_shares(subset) {
            Ok(recovered) if recovered == *key => Ok(()),
            Ok(_) => Err(cx.err(check, subject)),
            // Only an identity result can fail here; it cannot equal the key.
            Err(e) => Err(cx.err(check, subject).with(e.to_string())),
        }
    };
    check(
        base,
        "public shares do not reconstruct distributed public key",
        subject,
    )?;
    let prefix = indexed.get(..t - 1).unwrap_or_default();
    for (j, extra) in indexed.iter().enumerate().skip(t) {
        let mut subset = prefix.to_vec();
        subset.push(*extra);
        check(
            &subset,
            "extra share does not lie on distributed key polynomial",
            Subject::Share {
                validator,
                share: j,
            },
        )?;
    }
    Ok(())
}

fn builder_registrations(cx: Ctx, l: &Lock) -> Result<(), VerifyError> {
    let mut batch = Batch::default();
    let structural = registration_items(cx, l, &mut batch);
    batch.finish(structural)
}

fn registration_items(cx: Ctx, l: &Lock, batch: &mut Batch) -> Result<(), VerifyError> {
    let d = &l.definition;
    for (i, dv) in l.validators.iter().enumerate() {
        let subject = Subject::Validator(i);
        let reg = &dv.builder_registration;
        if !d.version.has_registrations() {
            if !reg.is_missing() {
                return Err(cx.err("unexpected validator registration", subject));
            }
            continue;
        }
        if reg.is_missing() {
            return Err(cx.err("missing validator registration", subject));
        }
        let wrap = |check: &'static str, why: String| {
            cx.err(check, subject)
                .with(format!("verify pre-generated builder registrations: {why}"))
        };
        // charon rebuilds the message from the definition's fee recipient and
        // the DV key, ignoring the message's own copies.
        let fee = d
            .validator_addresses(i)
            .map(|a| a.fee_recipient_address.as_str())
            .unwrap_or_default();
        let fee = k1::parse_address(fee)
            .map_err(|e| wrap("invalid fee recipient address", e.to_string()))?;
        let fork: [u8; 4] = d.fork_version.as_slice().try_into().map_err(|_| {
            wrap(
                "invalid fork version",
                format!("{} bytes", d.fork_version.len()),
            )
        })?;
        // The key was decoded and checked with the shares; the batch re-checks
        // encodings, so only the length matters here.
        let pubkey = raw_pubkey(&dv.pubkey)
            .ok_or_else(|| cx.err("invalid distributed public key", subject))?;
        let root = signing::registration_signing_root(
            &fee,
            reg.message.gas_limit,
            reg.message.timestamp,
            &pubkey.0,
            fork,
        );
        let sig = raw_signature(&reg.signature).ok_or_else(|| {
            wrap(
                "verify builder registration signature",
                format!("signature is {} bytes, expected 96", reg.signature.len()),
            )
        })?;
        batch.push(
            pubkey,
            root,
            sig,
            wrap(
                "verify builder registration signature",
                "signature does not verify".into(),
            ),
        );
    }
    Ok(())
}

fn node_signatures(cx: Ctx, l: &Lock) -> Result<(), VerifyError> {
    let d = &l.definition;
    if !d.version.has_registrations() {
        if !l.node_signatures.is_empty() {
            return Err(cx.err("unexpected node signatures", Subject::File));
        }
        return Ok(());
    }
    if l.node_signatures.len() != d.operators.len() {
        return Err(cx
            .err("invalid node signature count", Subject::File)
            .with(format!(
                "expected {} (one per operator), got {}",
                d.operators.len(),
                l.node_signatures.len()
            )));
    }
    for (i, (op, sig)) in d.operators.iter().zip(&l.node_signatures).enumerate() {
        let subject = Subject::Operator(i);
        let enr =
            Enr::parse(&op.enr).map_err(|e| cx.err("operator ENR", subject).with(e.to_string()))?;
        // charon checks against the lock hash stored in the file.
        match k1::verify65(enr.public_key(), &l.lock_hash, sig) {
            Ok(true) => {}
            Ok(false) => return Err(cx.err("invalid node signature", subject)),
            Err(K1Error::RecoveryId(v)) => {
                return Err(cx
                    .err("invalid recovery id", subject)
                    .with(format!("node signature V = {v}")));
            }
            Err(e) => {
                return Err(cx
                    .err("invalid node signature", subject)
                    .with(e.to_string()));
            }
        }
    }
    Ok(())
}

fn is_empty_deposit(dd: &DepositData) -> bool {
    dd.pubkey.is_empty()
        && dd.withdrawal_credentials.is_empty()
        && dd.amount == 0
        && dd.signature.is_empty()
}

/// Deposit data (not checked by charon): each deposit is for the DV key, pays
/// the definition's withdrawal address, and carries a valid signature by the DV
/// key. Empty placeholder deposits of v1.6/v1.7 test locks are skipped.
fn deposits(cx: Ctx, l: &Lock) -> Result<(), VerifyError> {
    let mut batch = Batch::default();
    let structural = deposit_items(cx, l, &mut batch);
    batch.finish(structural)
}

fn deposit_items(cx: Ctx, l: &Lock, batch: &mut Batch) -> Result<(), VerifyError> {
    let d = &l.definition;
    if !d.version.has_deposit_data() {
        return Ok(());
    }
    let Ok(fork) = <[u8; 4]>::try_from(d.fork_version.as_slice()) else {
        return Err(cx.err("invalid fork version", Subject::File));
    };
    for (i, dv) in l.validators.iter().enumerate() {
        for (j, dd) in dv.deposit_data.iter().enumerate() {
            if is_empty_deposit(dd) {
                continue;
            }
            let subject = Subject::Deposit {
                validator: i,
                deposit: j,
            };
            if dd.pubkey != dv.pubkey {
                return Err(cx.err(
                    "deposit data pubkey does not match distributed public key",
                    subject,
                ));
            }
            if let Some(addrs) = d.validator_addresses(i) {
                let want = k1::parse_address(&addrs.withdrawal_address)
                    .ok()
                    .map(|a| signing::withdrawal_credentials(&a, d.compounding));
                if want.as_ref().map(|w| w.as_slice()) != Some(dd.withdrawal_credentials.as_slice())
                {
                    return Err(cx
                        .err(
                            "deposit data withdrawal credentials do not match withdrawal address",
                            subject,
                        )
                        .with(format!(
                            "credentials {}, withdrawal address {:?}",
                            show_hex(&dd.withdrawal_credentials),
                            addrs.withdrawal_address
                        )));
                }
            }
            if dd.amount == 0 {
                return Err(cx
                    .err("invalid deposit amount", subject)
                    .with("amount is 0"));
            }
            // Equal to the already checked DV key.
            let pubkey = raw_pubkey(&dd.pubkey)
                .ok_or_else(|| cx.err("invalid deposit data pubkey", subject))?;
            let wc: [u8; 32] = dd
                .withdrawal_credentials
                .as_slice()
                .try_into()
                .map_err(|_| cx.err("invalid deposit data withdrawal credentials", subject))?;
            let root = signing::deposit_signing_root(&pubkey.0, &wc, dd.amount, fork);
            let sig = raw_signature(&dd.signature).ok_or_else(|| {
                cx.err("invalid deposit data signature", subject)
                    .with(format!(
                        "signature is {} bytes, expected 96",
                        dd.signature.len()
                    ))
            })?;
            batch.push(
                pubkey,
                root,
                sig,
                cx.err("invalid deposit data signature", subject)
                    .with("signature does not verify"),
            );
        }
    }
    Ok(())
}

/// BLS signatures collected for one batched verification, each with the error
/// to report if it is the first bad one.
#[derive(Default)]
struct Batch {
    items: Vec<(PublicKey, [u8; 32], Signature, VerifyError)>,
}

impl Batch {
    fn push(&mut self, pk: PublicKey, msg: [u8; 32], sig: Signature, err: VerifyError) {
        self.items.push((pk, msg, sig, err));
    }

    /// Verifies the collected signatures (all made before `structural`
    /// stopped the scan), reporting the first bad one before `structural`.
    fn finish(self, structural: Result<(), VerifyError>) -> Result<(), VerifyError> {
        let items: Vec<bls::BatchItem<'_>> = self
            .items
            .iter()
            .map(|(pk, msg, sig, _)| bls::BatchItem {
                public_key: pk,
                msg,
                signature: sig,
            })
            .collect();
        match bls::verify_batch(&items, &mut rand::thread_rng()) {
            Ok(()) => structural,
            Err(
                bls::BlsError::ItemVerify { position }
                | bls::BlsError::ItemEncoding { position, .. },
            ) => Err(self
                .items
                .get(position)
                .map(|(_, _, _, e)| e.clone())
                .unwrap_or_else(|| VerifyError::new("lock", "signature batch", Subject::File))),
            Err(e) => Err(self
                .items
                .first()
                .map(|(_, _, _, err)| err.clone().with(e.to_string()))
                .unwrap_or_else(|| VerifyError::new("lock", "signature batch", Subject::File))),
        }
    }
}
