//! The pre-generated builder registrations of a lock (v1.7+).

use crate::lock::cluster::error::{Subject, VerifyError};
use crate::lock::cluster::lockfile::Lock;
use crate::lock::cluster::verify::context::{Batch, Ctx, raw_pubkey, raw_signature};
use crate::lock::eth::signing;
use crate::lock::identity::k1;

pub(super) fn builder_registrations(
    cx: Ctx,
    l: &Lock,
    signatures: bool,
) -> Result<(), VerifyError> {
    if !signatures {
        // Structure only: the collected signatures are dropped unchecked.
        return registration_items(cx, l, &mut Batch::default());
    }
    Batch::run(|batch| registration_items(cx, l, batch))
}

pub(super) fn registration_items(cx: Ctx, l: &Lock, batch: &mut Batch) -> Result<(), VerifyError> {
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
