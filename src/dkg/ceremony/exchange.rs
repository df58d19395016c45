//! One partial-signature exchange (steps 2-4): sign with every validator's
//! share, send to every peer, verify what arrives and combine it.

use std::collections::BTreeMap;

use rand::rngs::OsRng;

use crate::dkg::parsig::ParSigError;
use crate::frost::bls::{self, PublicKey, Signature};
use crate::p2p::parsigex::{build_msg, send_msg};
use crate::p2p::protocols;
use crate::p2p::stream::{OpenStream, SendPolicy, with_retries};

use super::error::CeremonyError;
use super::keygen::Share;
use super::session::Session;

/// How a validator's partial signatures become one.
#[derive(Clone, Copy)]
pub(super) enum Combine {
    /// Lagrange interpolation of the partials (deposits, registrations).
    Threshold,
    /// Plain aggregate (the lock hash: every share signs).
    Aggregate,
}

/// Signs `roots[v]` with each validator's share, exchanges the partial
/// signatures with every peer under `sig_type`, verifies all of them and
/// combines each validator's into the group signature.
pub(super) async fn exchange(
    cx: &Session<'_>,
    step: u64,
    sig_type: u64,
    what: &str,
    shares: &[Share],
    roots: &[[u8; 32]],
    combine: Combine,
) -> Result<Vec<Signature>, CeremonyError> {
    let me = cx.share_idx();
    // Each distinct root is hashed to G2 once, for our signatures and every
    // check (the lock hash is every validator's root).
    let mut hashed: Vec<bls::HashedMessage> = Vec::with_capacity(roots.len());
    for (i, r) in roots.iter().enumerate() {
        let repeat = i
            .checked_sub(1)
            .and_then(|p| roots.get(p).filter(|prev| *prev == r).and(hashed.get(p)))
            .copied();
        hashed.push(repeat.unwrap_or_else(|| bls::HashedMessage::new(r)));
    }
    let own: BTreeMap<[u8; 48], [u8; 96]> = shares
        .iter()
        .zip(&hashed)
        .map(|(s, h)| (s.pubkey.0, s.secret.sign_hashed(h).0))
        .collect();
    let own_entries: Vec<(PublicKey, Signature)> = own
        .iter()
        .map(|(p, s)| (PublicKey(*p), Signature(*s)))
        .collect();
    cx.parsigs
        .insert(sig_type, u64::from(me), &own_entries)
        .map_err(|e| cx.fail(step, e))?;
    let msg = build_msg(sig_type, me, &own);
    let sends = (0..cx.n()).filter(|&j| j != cx.own()).map(|j| {
        let msg = &msg;
        async move {
            with_retries(&SendPolicy::DEFAULT, || async {
                let mut s = cx
                    .net
                    .open(j, protocols::PARSIGEX)
                    .await
                    .map_err(|e| e.to_string())?;
                send_msg(&mut s, msg).await.map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| {
                cx.fail(
                    step,
                    format!(
                        "send {what} partial signatures to operator {j}: {e}{}",
                        cx.isolation_hint()
                    ),
                )
            })
        }
    });
    futures::future::try_join_all(sends).await?;
    let pubkeys: Vec<PublicKey> = shares.iter().map(|s| s.pubkey).collect();
    let slots = cx
        .parsigs
        .wait_complete(sig_type, what, &pubkeys, cx.cfg.timeout)
        .await
        .map_err(|e| match &e {
            ParSigError::Timeout { missing, .. } => cx.fail(
                step,
                format!(
                    "timed out waiting for {what} partial signatures from operator(s) {}{}",
                    cx.describe(missing),
                    cx.isolation_hint()
                ),
            ),
            _ => cx.fail(step, e),
        })?;

    // Every partial is verified against its public share in one batch
    // (naming the operator and validator on failure) and merged.
    let mut lists: Vec<Vec<(u64, bls::PreparedKey, Signature)>> = Vec::with_capacity(shares.len());
    let mut index = Vec::with_capacity(shares.len() * cx.n());
    for (vi, (share, slot)) in shares.iter().zip(&slots).enumerate() {
        let mut list = Vec::with_capacity(slot.len());
        for (&idx, sig) in slot {
            let pk = share.prepared.get(&(idx as u32)).ok_or_else(|| {
                cx.fail(step, format!("no public share {idx} for validator {vi}"))
            })?;
            list.push((idx, *pk, *sig));
            index.push((vi, idx));
        }
        lists.push(list);
    }
    let (sets, merge): (Vec<bls::PartialSet<'_>>, _) = match combine {
        Combine::Threshold => (
            lists
                .iter()
                .zip(&hashed)
                .map(|(partials, msg)| bls::PartialSet { msg, partials })
                .collect(),
            bls::Merge::Threshold(cx.checked.definition.threshold as usize),
        ),
        // Every root is the same: one set of all partials, one sum.
        Combine::Aggregate => {
            let flat: Vec<_> = lists.iter().flatten().copied().collect();
            lists = vec![flat];
            (
                match (lists.first(), hashed.first()) {
                    (Some(partials), Some(msg)) => vec![bls::PartialSet { msg, partials }],
                    _ => Vec::new(),
                },
                bls::Merge::Sum,
            )
        }
    };
    bls::verify_and_combine(&sets, merge, &mut OsRng).map_err(|e| match e {
        bls::BlsError::ItemEncoding { position, .. } | bls::BlsError::ItemVerify { position } => {
            let (vi, idx) = index.get(position).copied().unwrap_or((0, 0));
            cx.fail(
                step,
                format!(
                    "invalid {what} partial signature from operator {} for validator {vi}",
                    idx.saturating_sub(1)
                ),
            )
        }
        other => cx.fail(step, format!("{what} signatures: {other}")),
    })
}
