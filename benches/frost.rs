//! FROST DKG costs per validator, batch versus one-by-one round 2, and the
//! `floor`: the blst operations the protocol cannot avoid, with our cost as a
//! ratio to it.
//!
//! Floor per validator for (n, t):
//! * round 1: t + 1 constant-time fixed-base multiplications (commitments and
//!   the nonce commitment R);
//! * round 2: (n-1)*t point decompressions with subgroup checks (every peer
//!   commitment) and n-1 two-point multi-scalar multiplications
//!   `w*G - c*A_0` (each proof's R must be recomputed to be hashed).
//!
//! Run: `cargo bench --bench frost -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use charon_dkg_sidecar::frost::curve::{self, G1, G1Affine, Scalar};
use charon_dkg_sidecar::frost::dkg::{Participant, Round2Input, round2_batch};
use charon_dkg_sidecar::frost::{Round1Bcast, ShamirShare};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;

const SIZES: [(u32, u32); 3] = [(4, 3), (7, 5), (10, 7)];
/// Validators per round-2 batch in the benches.
const BATCH: usize = 32;

type Inputs = Vec<(BTreeMap<u32, Round1Bcast>, BTreeMap<u32, ShamirShare>)>;

/// Node 1's participants and round-2 inputs for `v` validators.
fn ceremony(n: u32, t: u32, v: usize) -> (Vec<Participant>, Inputs) {
    let mut rng = StdRng::seed_from_u64(u64::from(n * 31 + t));
    let mut mine = Vec::new();
    let mut inputs = Vec::new();
    for _ in 0..v {
        let ps: Vec<Participant> = (1..=n)
            .map(|id| Participant::new(id, t, n, &mut rng).unwrap())
            .collect();
        let mut bcasts = BTreeMap::new();
        let mut shares = BTreeMap::new();
        for p in &ps {
            let (b, s) = p.round1();
            bcasts.insert(p.id(), b);
            if p.id() != 1 {
                shares.insert(p.id(), s[&1].clone());
            }
        }
        mine.push(ps.into_iter().next().unwrap());
        inputs.push((bcasts, shares));
    }
    (mine, inputs)
}

fn batch_inputs<'a>(ps: &'a [Participant], ins: &'a Inputs) -> Vec<Round2Input<'a>> {
    ps.iter()
        .zip(ins.iter())
        .enumerate()
        .map(|(validator, (participant, (bcasts, shares)))| Round2Input {
            validator,
            participant,
            bcasts,
            shares,
        })
        .collect()
}

fn rounds(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = c.benchmark_group("round1");
    for (n, t) in SIZES {
        g.bench_function(BenchmarkId::from_parameter(format!("n{n}_t{t}")), |b| {
            b.iter(|| black_box(Participant::new(1, t, n, &mut rng).unwrap().round1()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("round2");
    for (n, t) in SIZES {
        let (ps, ins) = ceremony(n, t, BATCH);
        let batch = batch_inputs(&ps, &ins);
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(
            BenchmarkId::new("batched", format!("n{n}_t{t}_v{BATCH}")),
            |b| b.iter(|| black_box(round2_batch(&batch).unwrap())),
        );
        g.bench_function(
            BenchmarkId::new("one_by_one", format!("n{n}_t{t}_v{BATCH}")),
            |b| {
                b.iter(|| {
                    for inp in &batch {
                        black_box(round2_batch(std::slice::from_ref(inp)).unwrap());
                    }
                })
            },
        );
    }
    g.finish();
}

struct Prims {
    scalar: Scalar,
    w: Scalar,
    c: Scalar,
    enc: [u8; 48],
    a0: G1Affine,
    g: G1Affine,
}

fn prims() -> Prims {
    let mut rng = StdRng::seed_from_u64(2);
    let p = G1::mul_base(&Scalar::random(&mut rng));
    Prims {
        scalar: Scalar::random(&mut rng),
        w: Scalar::random(&mut rng),
        c: Scalar::random(&mut rng),
        enc: p.to_compressed(),
        a0: p.to_affine(),
        g: G1::generator().to_affine(),
    }
}

fn mul_base(p: &Prims) -> G1 {
    G1::mul_base(&p.scalar)
}

fn decode(p: &Prims) -> G1Affine {
    G1Affine::from_compressed(&p.enc).unwrap()
}

fn schnorr_msm(p: &Prims) -> G1 {
    curve::msm(&[p.g, p.a0], &[p.w.clone(), p.c.neg()]).unwrap()
}

/// Median wall time of `f` over `reps` runs of `inner` calls, per call.
fn median(reps: usize, inner: usize, mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..inner {
                f();
            }
            s.elapsed() / inner as u32
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

fn floor(c: &mut Criterion) {
    let p = prims();
    let mut g = c.benchmark_group("floor");
    g.bench_function("g1_mul_base_consttime", |b| {
        b.iter(|| black_box(mul_base(&p)))
    });
    g.bench_function("g1_decompress_subgroup_check", |b| {
        b.iter(|| black_box(decode(&p)))
    });
    g.bench_function("g1_two_point_msm", |b| {
        b.iter(|| black_box(schnorr_msm(&p)))
    });
    g.bench_function("g1_mul_base_vartime", |b| {
        b.iter(|| black_box(G1::mul_base_vartime(&p.w)))
    });
    g.bench_function("g1_mul_vartime", |b| {
        b.iter(|| black_box(p.a0.to_projective().mul_vartime(&p.c)))
    });
    g.bench_function("g1_compress", |b| {
        let q = p.a0.to_projective().add(&G1::generator());
        b.iter(|| black_box(q.to_compressed()))
    });
    g.bench_function("frost_challenge_hash", |b| {
        b.iter(|| black_box(charon_dkg_sidecar::frost::dkg::challenge(1, &p.enc, &p.enc)))
    });
    for size in [96usize, 1024] {
        let mut rng = StdRng::seed_from_u64(3);
        let pts: Vec<G1> = (0..size)
            .map(|_| G1::mul_base(&Scalar::random(&mut rng)))
            .collect();
        let aff = G1::batch_to_affine(&pts);
        let w: Vec<u128> = (0..size as u128)
            .map(|i| (i * 0x9e37_79b9_7f4a_7c15) | 1)
            .collect();
        g.throughput(Throughput::Elements(size as u64));
        g.bench_function(BenchmarkId::new("g1_msm_128bit", size), |b| {
            b.iter(|| black_box(curve::msm(&aff, &w).unwrap()))
        });
    }
    g.finish();

    // Ratios: our per-validator cost (round 1 + batched round 2) over the floor.
    let mut rng = StdRng::seed_from_u64(4);
    let t_mul = median(15, 50, || {
        black_box(mul_base(&p));
    });
    let t_dec = median(15, 50, || {
        black_box(decode(&p));
    });
    let t_msm2 = median(15, 50, || {
        black_box(schnorr_msm(&p));
    });
    for (n, t) in SIZES {
        let floor1 = t_mul * (t + 1);
        let floor2 = t_dec * ((n - 1) * t) + t_msm2 * (n - 1);
        let r1 = median(9, 20, || {
            black_box(Participant::new(1, t, n, &mut rng).unwrap().round1());
        });
        let (ps, ins) = ceremony(n, t, BATCH);
        let batch = batch_inputs(&ps, &ins);
        let r2 = median(9, 2, || {
            black_box(round2_batch(&batch).unwrap());
        }) / BATCH as u32;
        let ours = r1 + r2;
        let fl = floor1 + floor2;
        println!(
            "floor ratio n={n} t={t}: round1 {:.1} us (floor {:.1}), round2 {:.1} us/validator \
             (floor {:.1}), total {:.1} us / floor {:.1} us = {:.2}x",
            r1.as_secs_f64() * 1e6,
            floor1.as_secs_f64() * 1e6,
            r2.as_secs_f64() * 1e6,
            floor2.as_secs_f64() * 1e6,
            ours.as_secs_f64() * 1e6,
            fl.as_secs_f64() * 1e6,
            ours.as_secs_f64() / fl.as_secs_f64()
        );
    }
}

criterion_group!(benches, floor, rounds);
criterion_main!(benches);
