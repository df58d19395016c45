//! Threshold BLS costs for a 100-validator ceremony with 4 operators
//! (threshold 3): verifying every partial signature (batched versus one by
//! one), combining partials, and combining public shares.
//!
//! Run: `cargo bench --bench bls -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use charon_dkg_sidecar::frost::bls::{self, BatchItem, PublicKey, SecretKey, Signature};
use charon_dkg_sidecar::frost::curve::{self, Scalar};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;

const VALIDATORS: usize = 100;
const N: u64 = 4;
const T: usize = 3;

struct Validator {
    msg: Vec<u8>,
    pubshares: Vec<(u64, PublicKey)>,
    partials: Vec<(u64, Signature)>,
}

fn setup() -> Vec<Validator> {
    let mut rng = StdRng::seed_from_u64(1);
    (0..VALIDATORS)
        .map(|v| {
            let coeffs: Vec<Scalar> = (0..T).map(|_| Scalar::random_nonzero(&mut rng)).collect();
            let msg = vec![v as u8; 32];
            let mut pubshares = Vec::new();
            let mut partials = Vec::new();
            for i in 1..=N {
                let sk = SecretKey::from_scalar(&curve::eval_poly(&coeffs, &Scalar::from_u64(i)))
                    .unwrap();
                pubshares.push((i, sk.public_key()));
                partials.push((i, sk.sign(&msg)));
            }
            Validator {
                msg,
                pubshares,
                partials,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let vals = setup();
    let items: Vec<BatchItem<'_>> = vals
        .iter()
        .flat_map(|v| {
            v.pubshares
                .iter()
                .zip(v.partials.iter())
                .map(|((_, pk), (_, sig))| BatchItem {
                    public_key: pk,
                    msg: &v.msg,
                    signature: sig,
                })
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(2);

    let mut g = c.benchmark_group("partial_verify_100_validators_x4");
    g.sample_size(10);
    g.throughput(Throughput::Elements(items.len() as u64));
    g.bench_function("batched", |b| {
        b.iter(|| bls::verify_batch(black_box(&items), &mut rng).unwrap())
    });
    g.bench_function("one_by_one", |b| {
        b.iter(|| {
            for it in &items {
                bls::verify(it.public_key, it.msg, it.signature).unwrap();
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("combine_100_validators");
    g.sample_size(10);
    g.throughput(Throughput::Elements(VALIDATORS as u64));
    g.bench_function("threshold_combine_t3", |b| {
        b.iter(|| {
            for v in &vals {
                black_box(bls::threshold_combine(&v.partials[..T]).unwrap());
            }
        })
    });
    g.bench_function("combine_public_shares_n4", |b| {
        b.iter(|| {
            for v in &vals {
                black_box(bls::combine_public_shares(&v.pubshares).unwrap());
            }
        })
    });
    g.bench_function("aggregate_n4", |b| {
        b.iter(|| {
            for v in &vals {
                let sigs: Vec<Signature> = v.partials.iter().map(|(_, s)| *s).collect();
                black_box(bls::aggregate(&sigs).unwrap());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("floor_bls");
    let v = &vals[0];
    g.bench_function("verify_one_signature", |b| {
        b.iter(|| bls::verify(&v.pubshares[0].1, &v.msg, &v.partials[0].1).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
