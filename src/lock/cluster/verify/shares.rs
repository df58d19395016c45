//! A lock's distributed validators: group keys and public shares (decoded,
//! subgroup-checked, reconstructing the group key) and the aggregate signature.

use std::collections::HashSet;

use rand::Rng;

use crate::frost::bls::{self, PublicKey, Signature};
use crate::frost::curve::{self, G1Affine, Scalar, lagrange_coefficients_at_zero};
use crate::lock::cluster::error::{Subject, VerifyError};
use crate::lock::cluster::lockfile::Lock;
use crate::lock::cluster::verify::context::{
    ContractPolicy, Ctx, MAX_VERIFIED_OPERATORS, VerifyOptions,
};
use crate::lock::cluster::verify::registrations::builder_registrations;
use crate::lock::cluster::verify::signatures::{definition_signatures, node_signatures};

pub(super) fn lock_signatures(
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

    builder_registrations(cx, l, opts.registration_signatures)?;
    node_signatures(cx, l)
}

/// A distributed validator's key and shares, decoded and subgroup-checked.
pub(super) struct ParsedDv {
    key: PublicKey,
    key_point: G1Affine,
    shares: Vec<PublicKey>,
    share_points: Vec<G1Affine>,
}

pub(super) fn parse_point(
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

pub(super) fn parse_dv(
    cx: Ctx,
    i: usize,
    dv: &crate::lock::cluster::lockfile::DistValidator,
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
pub(super) fn batch_reconstruct_ok(dvs: &[ParsedDv], threshold: u64) -> bool {
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
pub(super) fn shares_reconstruct(
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
