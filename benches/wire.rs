//! Wire throughput for large ceremonies: encoding/decoding FROST round-1
//! casts for many validators, the bcast hash over them, and verifying a full
//! set of co-signatures.

use charon_dkg_sidecar::p2p::bcast::{hash_any, verify_signatures};
use charon_dkg_sidecar::p2p::frostp2p::validate_round1_casts;
use charon_dkg_sidecar::p2p::k1sig::sign65;
use charon_dkg_sidecar::p2p::proto::dkgpb::{FrostMsgKey, FrostRound1Cast, FrostRound1Casts};
use charon_dkg_sidecar::p2p::proto::pack_any;
use charon_dkg_sidecar::p2p::protocols::{Compat, MSG_FROST_ROUND1_CAST};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use k256::ecdsa::SigningKey;
use prost::Message;

const VALIDATORS: u32 = 1000;
const THRESHOLD: usize = 7;

fn casts() -> FrostRound1Casts {
    FrostRound1Casts {
        casts: (0..VALIDATORS)
            .map(|v| FrostRound1Cast {
                key: Some(FrostMsgKey {
                    val_idx: v,
                    source_id: 1,
                    target_id: 0,
                }),
                wi: vec![1; 32],
                ci: vec![2; 32],
                commitments: vec![vec![3; 48]; THRESHOLD],
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let msg = casts();
    let bytes = msg.encode_to_vec();
    c.bench_function("round1_casts_1000v_t7_encode", |b| {
        b.iter(|| black_box(&msg).encode_to_vec())
    });
    c.bench_function("round1_casts_1000v_t7_decode_validate", |b| {
        b.iter(|| {
            let m = FrostRound1Casts::decode(black_box(bytes.as_slice())).unwrap();
            assert_eq!(
                validate_round1_casts(&m, 1, VALIDATORS as usize, THRESHOLD)
                    .unwrap()
                    .len(),
                1000
            );
        })
    });
    let any = pack_any(&msg);
    c.bench_function("bcast_hash_v2_1000v", |b| {
        b.iter(|| {
            hash_any(
                Compat::V1_11,
                &[7; 32],
                MSG_FROST_ROUND1_CAST,
                black_box(&any),
            )
        })
    });
    let keys: Vec<SigningKey> = (1..=10u8)
        .map(|i| SigningKey::from_slice(&[i; 32]).unwrap())
        .collect();
    let pks: Vec<_> = keys.iter().map(|k| *k.verifying_key()).collect();
    let hash = hash_any(Compat::V1_11, &[7; 32], MSG_FROST_ROUND1_CAST, &any);
    let sigs: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| sign65(k, &hash).unwrap().to_vec())
        .collect();
    c.bench_function("k1_sign65", |b| {
        b.iter(|| sign65(&keys[0], black_box(&hash)).unwrap())
    });
    c.bench_function("bcast_verify_10_signatures", |b| {
        b.iter(|| verify_signatures(&pks, black_box(&hash), &sigs).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
