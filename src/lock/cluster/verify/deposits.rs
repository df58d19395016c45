//! A lock's deposit data (not checked by charon).

use crate::lock::cluster::error::{Subject, VerifyError};
use crate::lock::cluster::lockfile::{DepositRecord, Lock};
use crate::lock::cluster::verify::context::{Batch, Ctx, raw_pubkey, raw_signature, show_hex};
use crate::lock::eth::signing;
use crate::lock::identity::k1;

pub(super) fn is_empty_deposit(dd: &DepositRecord) -> bool {
    dd.pubkey.is_empty()
        && dd.withdrawal_credentials.is_empty()
        && dd.amount == 0
        && dd.signature.is_empty()
}

/// Deposit data (not checked by charon): each deposit is for the DV key, pays
/// the definition's withdrawal address, and carries a valid signature by the DV
/// key. Empty placeholder deposits of v1.6/v1.7 test locks are skipped.
pub(super) fn deposits(cx: Ctx, l: &Lock) -> Result<(), VerifyError> {
    Batch::run(|batch| deposit_items(cx, l, batch))
}

pub(super) fn deposit_items(cx: Ctx, l: &Lock, batch: &mut Batch) -> Result<(), VerifyError> {
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
