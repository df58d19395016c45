//! Operator and creator EIP-712 signatures of a definition (EOA or, deferred,
//! ERC-1271), and the operators' k1 node signatures of a lock.

use crate::lock::cluster::contract::{self, ContractSignature, SignatureRole};
use crate::lock::cluster::definition::Definition;
use crate::lock::cluster::eip712;
use crate::lock::cluster::error::{Subject, VerifyError};
use crate::lock::cluster::lockfile::Lock;
use crate::lock::cluster::verify::context::{ContractPolicy, Ctx, VerifyOptions, show_hex};
use crate::lock::cluster::version::Version;
use crate::lock::identity::enr::Enr;
use crate::lock::identity::k1::{self, K1Error};

/// Appends advice to a rejection's detail.
pub(super) fn with_hint(e: VerifyError, address: &str) -> VerifyError {
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
pub(super) fn signature_check(
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

pub(super) fn signature_length(
    cx: Ctx,
    v: Version,
    sig: &[u8],
    subject: Subject,
) -> Result<(), VerifyError> {
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

pub(super) fn definition_signatures(
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

pub(super) fn node_signatures(cx: Ctx, l: &Lock) -> Result<(), VerifyError> {
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
