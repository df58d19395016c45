//! Step 1: FROST key generation for every validator at once (charon's
//! round 1 broadcast and p2p shares, round 2 verification keys).

use std::collections::BTreeMap;
use std::time::Instant;

use rand::rngs::OsRng;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::frost::bls::{self, PublicKey, SecretKey};
use crate::frost::dkg::{Participant, Round2Input, Round2Result, round2_batch};
use crate::frost::messages::{Round1Bcast, Round2Bcast, ShamirShare};
use crate::p2p::bcast::Delivery;
use crate::p2p::frostp2p::{validate_round1_casts, validate_round2_casts};
use crate::p2p::proto::dkgpb::{
    FrostMsgKey, FrostRound1Cast, FrostRound1Casts, FrostRound1P2P, FrostRound1ShamirShare,
    FrostRound2Cast, FrostRound2Casts,
};
use crate::p2p::protocols;
use crate::p2p::stream::{OpenStream, SendPolicy, with_retries};

use super::config::Fault;
use super::connect::Connected;
use super::error::CeremonyError;
use super::session::Session;

/// Logs that a FROST phase finished for `$v` validators, with the seconds
/// since `$started`: one format for the three phases.
macro_rules! phase_done {
    ($v:expr, $started:expr, $msg:literal) => {
        tracing::info!(
            validators = $v,
            elapsed_s = format!("{:.3}", $started.elapsed().as_secs_f64()),
            $msg
        )
    };
}

/// One validator's key material after FROST.
pub(super) struct Share {
    pub(super) pubkey: PublicKey,
    pub(super) secret: SecretKey,
    /// Public shares by 1-based share index.
    pub(super) public_shares: BTreeMap<u32, PublicKey>,
    /// The same, decoded once for the signature exchanges.
    pub(super) prepared: BTreeMap<u32, bls::PreparedKey>,
}

/// Every validator's key share, in validator order: what steps 2-4 sign with.
pub(super) struct Keys {
    pub(super) shares: Vec<Share>,
}

/// Step 1, once every peer is connected.
pub(super) async fn generate(
    cx: &mut Session<'_>,
    _: Connected,
    round1: UnboundedReceiver<Delivery>,
    round2: UnboundedReceiver<Delivery>,
) -> Result<Keys, CeremonyError> {
    let cx = cx.enter(1).await?;
    let shares = cx.guarded(1, frost(cx, round1, round2)).await?;
    cx.metrics.set_validators_done(shares.len());
    Ok(Keys { shares })
}

/// Step 1: FROST round 1 (broadcast commitments, send shares), round 2
/// (verify, derive, broadcast verification keys, check them).
async fn frost(
    cx: &Session<'_>,
    mut r1_rx: UnboundedReceiver<Delivery>,
    mut r2_rx: UnboundedReceiver<Delivery>,
) -> Result<Vec<Share>, CeremonyError> {
    let (n, t, me) = (
        cx.n() as u32,
        cx.checked.definition.threshold as u32,
        cx.share_idx(),
    );
    let v = cx.num_vals;
    let started = Instant::now();
    let participants: Vec<Participant> = {
        let mut rng = OsRng;
        (0..v)
            .map(|_| Participant::new(me, t, n, &mut rng))
            .collect::<Result<_, _>>()
            .map_err(|e| cx.fail(1, e))?
    };
    let round1: Vec<(Round1Bcast, BTreeMap<u32, ShamirShare>)> =
        participants.iter().map(|p| p.round1()).collect();
    phase_done!(v, started, "FROST round 1 computed");

    let casts = FrostRound1Casts {
        casts: round1
            .iter()
            .enumerate()
            .map(|(vi, (b, _))| FrostRound1Cast {
                key: Some(key(vi, me, 0)),
                wi: b.wi.to_vec(),
                ci: b.ci.to_vec(),
                commitments: b.commitments.iter().map(|c| c.to_vec()).collect(),
            })
            .collect(),
    };
    // Validate our own message as peers will (a rejected first cast
    // blocks charon peers for the round).
    validate_round1_casts(&casts, me, v, t as usize).map_err(|e| cx.fail(1, e))?;
    let p2p_msgs: Vec<(usize, FrostRound1P2P)> = (0..cx.n())
        .filter(|&j| j != cx.own())
        .map(|j| {
            let target = j as u32 + 1;
            let shares = round1
                .iter()
                .enumerate()
                .map(|(vi, (_, sh))| FrostRound1ShamirShare {
                    key: Some(key(vi, me, target)),
                    id: target,
                    value: {
                        let mut v = sh
                            .get(&target)
                            .map(|s| s.value.to_vec())
                            .unwrap_or_default();
                        if vi == 0 && cx.cfg.fault == Some(Fault::InvalidFrostShare) {
                            // Still canonical and non-zero: only the Feldman
                            // check can catch it.
                            if let Some(b) = v.last_mut() {
                                *b ^= 1;
                            }
                        }
                        v
                    },
                })
                .collect();
            (j, FrostRound1P2P { shares })
        })
        .collect();

    let send_shares = async {
        let sends = p2p_msgs.iter().map(|(j, msg)| send_p2p(cx, *j, msg));
        futures::future::try_join_all(sends).await
    };
    let bcast_r1 = broadcast_casts(cx, protocols::MSG_FROST_ROUND1_CAST, &casts, "round-1");
    let collect_r1 = cx.collect_first(1, &mut r1_rx, "round-1 casts");
    let (_, _, r1_deliveries) = tokio::try_join!(send_shares, bcast_r1, collect_r1)?;
    let p2p = cx
        .while_alive(
            1,
            "round-1 shares",
            async { Ok(cx.round1_p2p.wait_all_except(Some(cx.own())).await) },
            || {
                (0..cx.n())
                    .filter(|&i| i != cx.own() && cx.round1_p2p.get(i).is_none())
                    .collect()
            },
        )
        .await?;

    // Decode everything, keyed per validator by sender share index.
    let mut bcasts: Vec<BTreeMap<u32, Round1Bcast>> = vec![BTreeMap::new(); v];
    let mut shares_in: Vec<BTreeMap<u32, ShamirShare>> = vec![BTreeMap::new(); v];
    for (sender, d) in r1_deliveries {
        let src = sender as u32 + 1;
        let msg: FrostRound1Casts = d
            .decode()
            .map_err(|e| cx.fail(1, format!("operator {sender}: {e}")))?;
        let ordered = validate_round1_casts(&msg, src, v, t as usize)
            .map_err(|e| cx.fail(1, format!("operator {sender}: {e}")))?;
        for (vi, c) in ordered.into_iter().enumerate() {
            let b = Round1Bcast::from_slices(&c.commitments, &c.wi, &c.ci)
                .map_err(|e| cx.fail(1, format!("operator {sender}, validator {vi}: {e}")))?;
            if let Some(m) = bcasts.get_mut(vi) {
                m.insert(src, b);
            }
        }
    }
    for (sender, slot) in p2p.into_iter().enumerate() {
        let Some(msg) = slot else { continue };
        let src = sender as u32 + 1;
        let ordered = crate::p2p::frostp2p::validate_round1_p2p(&msg, src, me, v)
            .map_err(|e| cx.fail(1, format!("operator {sender}: {e}")))?;
        for (vi, s) in ordered.into_iter().enumerate() {
            let sh = ShamirShare::from_slice(s.id, &s.value).map_err(|e| {
                cx.fail(
                    1,
                    format!("invalid FROST share from operator {sender} for validator {vi}: {e}"),
                )
            })?;
            if let Some(m) = shares_in.get_mut(vi) {
                m.insert(src, sh);
            }
        }
    }
    let inputs: Vec<Round2Input<'_>> = participants
        .iter()
        .enumerate()
        .map(|(vi, p)| Round2Input {
            validator: vi,
            participant: p,
            bcasts: &bcasts[vi],
            shares: &shares_in[vi],
        })
        .collect();
    let results: Vec<Round2Result> = round2_batch(&inputs).map_err(|e| {
        let who = e
            .peer()
            .map(|p| {
                format!(
                    "operator {} sent an invalid FROST contribution",
                    p.saturating_sub(1)
                )
            })
            .unwrap_or_else(|| "invalid FROST contribution".into());
        cx.fail(1, format!("{who}: {e}"))
    })?;
    phase_done!(v, started, "FROST round 2 verified");

    let casts2 = FrostRound2Casts {
        casts: results
            .iter()
            .enumerate()
            .map(|(vi, r)| {
                let b = r.bcast();
                FrostRound2Cast {
                    key: Some(key(vi, me, 0)),
                    verification_key: b.verification_key.to_vec(),
                    vk_share: b.vk_share.to_vec(),
                }
            })
            .collect(),
    };
    let bcast_r2 = broadcast_casts(cx, protocols::MSG_FROST_ROUND2_CAST, &casts2, "round-2");
    let collect_r2 = cx.collect_first(1, &mut r2_rx, "round-2 casts");
    let (_, r2_deliveries) = tokio::try_join!(bcast_r2, collect_r2)?;
    let mut r2: Vec<BTreeMap<u32, Round2Bcast>> = results
        .iter()
        .map(|r| BTreeMap::from([(me, r.bcast())]))
        .collect();
    for (sender, d) in r2_deliveries {
        let src = sender as u32 + 1;
        let msg: FrostRound2Casts = d
            .decode()
            .map_err(|e| cx.fail(1, format!("operator {sender}: {e}")))?;
        let ordered = validate_round2_casts(&msg, src, v)
            .map_err(|e| cx.fail(1, format!("operator {sender}: {e}")))?;
        for (vi, c) in ordered.into_iter().enumerate() {
            let b = Round2Bcast::from_slices(&c.verification_key, &c.vk_share)
                .map_err(|e| cx.fail(1, format!("operator {sender}, validator {vi}: {e}")))?;
            if let Some(m) = r2.get_mut(vi) {
                m.insert(src, b);
            }
        }
    }
    let mut out = Vec::with_capacity(v);
    for (vi, (res, casts)) in results.into_iter().zip(r2).enumerate() {
        res.check_all_bcasts(vi, &casts).map_err(|e| {
            let who = e
                .peer()
                .map(|p| format!("operator {}: ", p.saturating_sub(1)))
                .unwrap_or_default();
            cx.fail(1, format!("{who}{e}"))
        })?;
        let prepared = res
            .public_shares
            .iter()
            .map(|(i, pk)| pk.prepare().map(|p| (*i, p)))
            .collect::<Result<_, _>>()
            .map_err(|e| cx.fail(1, format!("validator {vi} public share: {e}")))?;
        out.push(Share {
            pubkey: res.verification_key,
            secret: res.sk_share,
            public_shares: res.public_shares,
            prepared,
        });
    }
    phase_done!(v, started, "FROST complete: all validators' keys agreed");
    Ok(out)
}

/// Broadcasts one FROST round's casts; `round` names it in the error.
async fn broadcast_casts<M: prost::Message + prost::Name>(
    cx: &Session<'_>,
    msg_id: &str,
    casts: &M,
    round: &str,
) -> Result<(), CeremonyError> {
    cx.bcast
        .broadcast(cx.net.as_ref(), msg_id, casts)
        .await
        .map(|_| ())
        .map_err(|e| cx.fail(1, format!("{round} broadcast: {e}")))
}

async fn send_p2p(
    cx: &Session<'_>,
    peer: usize,
    msg: &FrostRound1P2P,
) -> Result<(), CeremonyError> {
    let policy = SendPolicy::DEFAULT;
    with_retries(&policy, || async {
        let mut s = cx
            .net
            .open(peer, protocols::FROST_ROUND1_P2P)
            .await
            .map_err(|e| e.to_string())?;
        crate::p2p::frostp2p::send_round1_p2p(&mut s, msg)
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| cx.fail(1, format!("send round-1 shares to operator {peer}: {e}")))
}

fn key(val_idx: usize, source: u32, target: u32) -> FrostMsgKey {
    FrostMsgKey {
        val_idx: val_idx as u32,
        source_id: source,
        target_id: target,
    }
}
