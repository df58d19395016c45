//! The machine's floor for a ceremony: the CPU the cryptography of one node
//! needs per validator, measured in-process with the same library calls the
//! nodes make, so every run can be stated as a ratio to what the hardware
//! allows.
//!
//! Per validator and node the unavoidable work is:
//! * one EIP-2335 keystore at charon's KDF cost (pbkdf2 2^18), through our
//!   fastest path (16 SIMD lanes, as `encrypt_many` runs it);
//! * FROST round 1 (commitments, proof, every share) and round 2 (checking
//!   every peer's proof and share);
//! * per signature type (lock hash, validator registration, each deposit
//!   amount): signing with the share, batch-verifying the n-1 peer partials,
//!   combining t of them, and batch-verifying the aggregate.
//!
//! Networking, JSON, hashing and lock verification are not in the floor: the
//! ratio shows what they cost on top.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::frost::bls::{self, BatchItem, PublicKey, SecretKey, Signature};
use crate::frost::{Participant, Round1Bcast, Round2Input, ShamirShare, round2_batch};
use crate::lock::keystore::{DEFAULT_PBKDF2_C, encrypt_many};

/// Validators sampled for the FROST and signature parts.
const SAMPLE: usize = 32;
/// Keystores per measurement: one full 16-lane batch on one thread.
const KEYSTORES: usize = 16;

/// CPU seconds one node needs per validator, by part, on one core.
#[derive(Clone, Copy, Debug)]
pub struct Floor {
    /// One keystore at pbkdf2 2^18.
    pub keystore: f64,
    /// FROST rounds 1 and 2.
    pub frost: f64,
    /// Signing, verifying and combining every signature type.
    pub signatures: f64,
    /// Cores the nodes share.
    pub cores: usize,
}

impl Floor {
    /// Core-seconds per validator per node.
    pub fn per_validator(&self) -> f64 {
        self.keystore + self.frost + self.signatures
    }

    /// CPU seconds one node cannot go below for `validators`.
    pub fn node_cpu(&self, validators: usize) -> f64 {
        self.per_validator() * validators as f64
    }

    /// Wall seconds `nodes` nodes on this machine cannot go below: all their
    /// CPU spread perfectly over the cores.
    pub fn wall(&self, nodes: usize, validators: usize) -> f64 {
        let cores = self.cores.max(1).min(nodes) as f64;
        self.node_cpu(validators) * nodes as f64 / cores
    }
}

/// Measures the floor for `n` operators, threshold `t` and `sig_types`
/// signature types per validator. Takes a few seconds; run it on an idle
/// machine (before the nodes start).
pub fn measure(n: u32, t: u32, sig_types: usize) -> Result<Floor, String> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    // Best of three: the floor is what the machine can do, so interference
    // only ever makes a measurement slower.
    let best = |f: &dyn Fn() -> Result<f64, String>| -> Result<f64, String> {
        let mut m = f64::INFINITY;
        for _ in 0..3 {
            m = m.min(f()?);
        }
        Ok(m)
    };
    Ok(Floor {
        keystore: best(&keystore)?,
        frost: best(&|| frost(n, t))?,
        signatures: best(&|| signatures(n, t, sig_types))?,
        cores,
    })
}

fn keys(count: usize, seed: u64) -> Result<Vec<SecretKey>, String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            SecretKey::from_scalar(&crate::frost::curve::Scalar::random_nonzero(&mut rng))
                .map_err(|e| format!("floor: key: {e}"))
        })
        .collect()
}

/// Seconds per keystore; `encrypt_many` keeps 16 keys on one thread.
fn keystore() -> Result<f64, String> {
    let secrets = keys(KEYSTORES, 1)?;
    let start = Instant::now();
    let out = encrypt_many(&secrets, DEFAULT_PBKDF2_C);
    let secs = start.elapsed().as_secs_f64();
    if out.len() != KEYSTORES {
        return Err("floor: keystore encryption returned too few keystores".into());
    }
    Ok(secs / KEYSTORES as f64)
}

/// Seconds per validator of node 1's FROST rounds 1 and 2.
fn frost(n: u32, t: u32) -> Result<f64, String> {
    let err = |e: crate::frost::FrostError| format!("floor: FROST: {e}");
    let mut rng = StdRng::seed_from_u64(2);
    let mut round1 = 0.0;
    let mut mine = Vec::with_capacity(SAMPLE);
    let mut inputs: Vec<(BTreeMap<u32, Round1Bcast>, BTreeMap<u32, ShamirShare>)> =
        Vec::with_capacity(SAMPLE);
    for _ in 0..SAMPLE {
        let start = Instant::now();
        let me = Participant::new(1, t, n, &mut rng).map_err(err)?;
        let (bcast, _) = me.round1();
        round1 += start.elapsed().as_secs_f64();
        let mut bcasts = BTreeMap::from([(1, bcast)]);
        let mut shares = BTreeMap::new();
        for id in 2..=n {
            let p = Participant::new(id, t, n, &mut rng).map_err(err)?;
            let (b, s) = p.round1();
            bcasts.insert(id, b);
            let share = s.get(&1).ok_or("floor: FROST: no share for node 1")?;
            shares.insert(id, share.clone());
        }
        mine.push(me);
        inputs.push((bcasts, shares));
    }
    let batch: Vec<Round2Input<'_>> = mine
        .iter()
        .zip(&inputs)
        .enumerate()
        .map(|(validator, (participant, (bcasts, shares)))| Round2Input {
            validator,
            participant,
            bcasts,
            shares,
        })
        .collect();
    let start = Instant::now();
    let out = round2_batch(&batch).map_err(err)?;
    let round2 = start.elapsed().as_secs_f64();
    if out.len() != SAMPLE {
        return Err("floor: FROST round 2 returned too few results".into());
    }
    Ok((round1 + round2) / SAMPLE as f64)
}

/// Seconds per validator of node 1's share of the signature steps.
fn signatures(n: u32, t: u32, sig_types: usize) -> Result<f64, String> {
    let err = |e: bls::BlsError| format!("floor: BLS: {e}");
    let mut rng = StdRng::seed_from_u64(3);
    let msgs: Vec<[u8; 32]> = (0..SAMPLE * sig_types)
        .map(|i| {
            let mut m = [0u8; 32];
            m[..8].copy_from_slice(&(i as u64).to_le_bytes());
            m
        })
        .collect();
    // Shares of one random polynomial per validator stand in for the DKG's.
    let mut shares: Vec<Vec<SecretKey>> = Vec::with_capacity(SAMPLE);
    for _ in 0..SAMPLE {
        let coeffs: Vec<_> = (0..t)
            .map(|_| crate::frost::curve::Scalar::random_nonzero(&mut rng))
            .collect();
        let per_node = (1..=u64::from(n))
            .map(|i| {
                let x = crate::frost::curve::Scalar::from_u64(i);
                SecretKey::from_scalar(&crate::frost::curve::eval_poly(&coeffs, &x)).map_err(err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        shares.push(per_node);
    }
    let pubs: Vec<Vec<PublicKey>> = shares
        .iter()
        .map(|s| s.iter().map(SecretKey::public_key).collect())
        .collect();
    // Peers' partials are made outside the clock.
    let peer_sigs: Vec<Vec<Signature>> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            shares[i / sig_types][1..]
                .iter()
                .map(|k| k.sign(m))
                .collect()
        })
        .collect();

    let start = Instant::now();
    let own: Vec<Signature> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| shares[i / sig_types][0].sign(m))
        .collect();
    let mut partial_items = Vec::with_capacity(msgs.len() * (n as usize - 1));
    for (i, m) in msgs.iter().enumerate() {
        for (j, sig) in peer_sigs[i].iter().enumerate() {
            partial_items.push(BatchItem {
                public_key: &pubs[i / sig_types][j + 1],
                msg: m,
                signature: sig,
            });
        }
    }
    bls::verify_batch(&partial_items, &mut rng).map_err(err)?;
    let mut aggregates = Vec::with_capacity(msgs.len());
    for (i, own_sig) in own.iter().enumerate() {
        let mut partials = vec![(1u64, *own_sig)];
        partials.extend(
            peer_sigs[i]
                .iter()
                .enumerate()
                .map(|(j, s)| (j as u64 + 2, *s)),
        );
        partials.truncate(t as usize);
        aggregates.push(bls::threshold_combine(&partials).map_err(err)?);
    }
    let groups: Vec<PublicKey> = pubs
        .iter()
        .map(|p| {
            let indexed: Vec<(u64, PublicKey)> = p
                .iter()
                .enumerate()
                .map(|(i, k)| (i as u64 + 1, *k))
                .collect();
            bls::combine_public_shares(&indexed[..t as usize]).map_err(err)
        })
        .collect::<Result<_, _>>()?;
    let elapsed_sign = start.elapsed().as_secs_f64();
    // The group keys come from FROST in a real ceremony: not timed.
    let start = Instant::now();
    let aggregate_items: Vec<BatchItem<'_>> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| BatchItem {
            public_key: &groups[i / sig_types],
            msg: m,
            signature: &aggregates[i],
        })
        .collect();
    bls::verify_batch(&aggregate_items, &mut rng).map_err(err)?;
    let elapsed_verify = start.elapsed().as_secs_f64();
    Ok((elapsed_sign + elapsed_verify) / SAMPLE as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_scales_with_validators_and_spreads_over_cores() {
        let f = Floor {
            keystore: 0.02,
            frost: 0.002,
            signatures: 0.003,
            cores: 2,
        };
        assert!((f.per_validator() - 0.025).abs() < 1e-12);
        assert!((f.node_cpu(1000) - 25.0).abs() < 1e-9);
        // 4 nodes on 2 cores: twice one node's CPU.
        assert!((f.wall(4, 1000) - 50.0).abs() < 1e-9);
        // More cores than nodes do not help a single-threaded node further.
        let wide = Floor { cores: 16, ..f };
        assert!((wide.wall(4, 1000) - 25.0).abs() < 1e-9);
    }

    #[test]
    fn signature_and_frost_floors_are_measured_with_real_crypto() {
        let s = signatures(4, 3, 3).unwrap();
        let fr = frost(4, 3).unwrap();
        assert!(s > 0.0 && s.is_finite());
        assert!(fr > 0.0 && fr.is_finite());
    }
}
