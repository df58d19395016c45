//! The machine's floor for a ceremony: the CPU the cryptography of one node
//! needs per validator, measured in-process with the same library calls the
//! nodes make, so every run can be stated as a ratio to what the hardware
//! allows.
//!
//! Per validator and node the unavoidable work is:
//! * one EIP-2335 keystore at charon's KDF cost (pbkdf2 2^18), through our
//!   fastest path, as `encrypt_many` runs it (16 AVX-512 lanes, or four
//!   interleaved SHA-NI chains on CPUs without AVX-512);
//! * FROST round 1 (commitments, proof, every share) and round 2 (checking
//!   every peer's proof and share);
//! * per signature type (lock hash, validator registration, each deposit
//!   amount): hashing the root to G2, signing it with the share, and
//!   batch-verifying every partial while combining them.
//!
//! Networking, JSON, hashing and lock verification are not in the floor: the
//! ratio shows what they cost on top.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::frost::bls::{
    self, HashedMessage, Merge, PartialSet, PreparedKey, SecretKey, Signature,
};
use crate::frost::{Participant, Round1Bcast, Round2Input, ShamirShare, round2_batch};
use crate::lock::keystore::{DEFAULT_PBKDF2_C, encrypt_many};

/// CPU seconds this process has used. The floor counts CPU, not wall time,
/// so a busy machine makes it no higher.
fn cpu_now() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Validators sampled for the FROST and signature parts.
const SAMPLE: usize = 32;
/// Keystores per measurement: one full 16-lane batch (or 4 x 4 SHA-NI
/// chains) on one thread.
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

    /// The part-by-part mean of several measurements (the first one's cores).
    pub fn mean(floors: &[Floor]) -> Floor {
        let k = floors.len().max(1) as f64;
        let avg = |f: fn(&Floor) -> f64| floors.iter().map(f).sum::<f64>() / k;
        Floor {
            keystore: avg(|f| f.keystore),
            frost: avg(|f| f.frost),
            signatures: avg(|f| f.signatures),
            cores: floors.first().map_or(1, |f| f.cores),
        }
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
/// signature types per validator, in CPU seconds. Takes a few seconds; run it
/// before the nodes start.
pub fn measure(n: u32, t: u32, sig_types: usize) -> Result<Floor, String> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    // Best of three: caches and frequency only ever make a measurement slower.
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
    let start = cpu_now();
    let out = encrypt_many(&secrets, DEFAULT_PBKDF2_C);
    let secs = cpu_now() - start;
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
        let start = cpu_now();
        let me = Participant::new(1, t, n, &mut rng).map_err(err)?;
        let (bcast, _) = me.round1();
        round1 += cpu_now() - start;
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
    let start = cpu_now();
    let out = round2_batch(&batch).map_err(err)?;
    let round2 = cpu_now() - start;
    if out.len() != SAMPLE {
        return Err("floor: FROST round 2 returned too few results".into());
    }
    Ok((round1 + round2) / SAMPLE as f64)
}

/// CPU seconds per validator of node 1's share of the signature steps, done
/// the way the nodes do them: each root hashed to G2 once, partials signed
/// from the hash, and every peer's partial verified in one batch per
/// exchange while combining (threshold per validator root; one sum over the
/// lock hash, which every validator signs).
fn signatures(n: u32, t: u32, sig_types: usize) -> Result<f64, String> {
    let err = |e: bls::BlsError| format!("floor: BLS: {e}");
    let mut rng = StdRng::seed_from_u64(3);
    let per_validator_roots = sig_types.saturating_sub(1);
    let root = |v: usize, k: usize| {
        let mut m = [0u8; 32];
        m[..8].copy_from_slice(&(v as u64).to_le_bytes());
        m[8..16].copy_from_slice(&(k as u64).to_le_bytes());
        m
    };
    let lock_root = [0xAAu8; 32];
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
    let prepared: Vec<Vec<PreparedKey>> = shares
        .iter()
        .map(|s| s.iter().map(|k| k.public_key().prepare()).collect())
        .collect::<Result<_, _>>()
        .map_err(err)?;
    // Peers' partials arrive from the network: made outside the clock.
    let peer = |msg: &[u8], v: usize| -> Vec<Signature> {
        shares[v][1..].iter().map(|k| k.sign(msg)).collect()
    };
    // By root kind, then validator.
    let peer_roots: Vec<Vec<Vec<Signature>>> = (0..per_validator_roots)
        .map(|k| (0..SAMPLE).map(|v| peer(&root(v, k), v)).collect())
        .collect();
    let peer_lock: Vec<Vec<Signature>> = (0..SAMPLE).map(|v| peer(&lock_root, v)).collect();
    let with_own = |own: Signature, peers: &[Signature], v: usize| {
        let mut list = vec![(1u64, prepared[v][0], own)];
        list.extend(
            peers
                .iter()
                .enumerate()
                .map(|(j, s)| (j as u64 + 2, prepared[v][j + 1], *s)),
        );
        list
    };

    let start = cpu_now();
    let lock_hashed = HashedMessage::new(&lock_root);
    let mut lock_partials = Vec::with_capacity(SAMPLE * n as usize);
    for (v, key) in shares.iter().enumerate() {
        lock_partials.extend(with_own(key[0].sign_hashed(&lock_hashed), &peer_lock[v], v));
    }
    bls::verify_and_combine(
        &[PartialSet {
            msg: &lock_hashed,
            partials: &lock_partials,
        }],
        Merge::Sum,
        &mut rng,
    )
    .map_err(err)?;
    for (k, peers) in peer_roots.iter().enumerate() {
        let hashed: Vec<HashedMessage> = (0..SAMPLE)
            .map(|v| HashedMessage::new(&root(v, k)))
            .collect();
        let lists: Vec<_> = hashed
            .iter()
            .enumerate()
            .map(|(v, h)| with_own(shares[v][0].sign_hashed(h), &peers[v], v))
            .collect();
        let sets: Vec<PartialSet<'_>> = lists
            .iter()
            .zip(&hashed)
            .map(|(partials, msg)| PartialSet { msg, partials })
            .collect();
        bls::verify_and_combine(&sets, Merge::Threshold(t as usize), &mut rng).map_err(err)?;
    }
    Ok((cpu_now() - start) / SAMPLE as f64)
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
        // The mean of two measurements is taken part by part.
        let slow = Floor {
            keystore: 0.04,
            ..f
        };
        let m = Floor::mean(&[f, slow]);
        assert!((m.keystore - 0.03).abs() < 1e-12 && (m.frost - 0.002).abs() < 1e-12);
        assert_eq!(m.cores, 2);
    }

    #[test]
    fn signature_and_frost_floors_are_measured_with_real_crypto() {
        let s = signatures(4, 3, 3).unwrap();
        let fr = frost(4, 3).unwrap();
        assert!(s > 0.0 && s.is_finite());
        assert!(fr > 0.0 && fr.is_finite());
    }
}
