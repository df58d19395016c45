//! Arbitrary bytes and mutated real files never panic the parser, the hasher,
//! the writer or the verifier (the in-`cargo test` counterpart of `fuzz/`).

use charon_dkg_sidecar::lock::network::NetworkSet;
use charon_dkg_sidecar::lock::verify::{verify_definition_deferred, verify_lock_deferred};
use charon_dkg_sidecar::lock::{Definition, Lock, VerifyOptions, verify_definition, verify_lock};
use proptest::prelude::*;
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/");

const SEEDS: &[&str] = &[
    "charon__cluster__examples__cluster-lock-000.json",
    "charon__cluster__examples__cluster-lock-003.json",
    "charon__cluster__manifest__testdata__lock2.json@b3ed85617.json",
    "charon__cluster__testdata__cluster_lock_v1_2_0.json",
    "charon__cluster__testdata__cluster_lock_v1_4_0.json",
    "charon__cluster__testdata__cluster_lock_v1_11_0.json",
    "obol-sdk__test__fixtures.ts__clusterLockV1X10.json",
    "obol-sdk__test__fixtures.ts__nullDepositAmountsClusterLockV1X8.json",
    "charon__cluster__examples__cluster-definition-002.json",
    "charon__cluster__testdata__cluster_definition_v1_0_0.json",
];

fn seeds() -> Vec<Vec<u8>> {
    SEEDS
        .iter()
        .map(|n| std::fs::read(format!("{DIR}{n}")).unwrap())
        .collect()
}

/// Everything a consumer might do with untrusted bytes.
fn exercise(bytes: &[u8]) {
    let opts = VerifyOptions {
        networks: NetworkSet::WITH_HOLESKY,
        check_deposits: true,
        registration_signatures: true,
    };
    if let Ok(l) = Lock::from_json(bytes) {
        let _ = l.lock_hash();
        let _ = verify_lock(&l, &opts);
        let _ = verify_lock_deferred(&l, &opts).map(|p| p.len());
        if let Ok(out) = l.to_json() {
            // What we write, we can read back.
            Lock::from_json(&out).expect("re-reading our own output");
        }
    }
    if let Ok(d) = Definition::from_json(bytes) {
        let _ = verify_definition(&d, &opts);
        let _ = verify_definition_deferred(&d, &opts).map(|p| p.len());
        if let Ok(out) = d.to_json() {
            Definition::from_json(&out).expect("re-reading our own output");
        }
    }
}

fn random_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,80}".prop_map(Value::String),
        "(0x)?[0-9a-fA-F]{0,200}".prop_map(Value::String),
        prop::collection::vec(".{0,10}".prop_map(Value::String), 0..5).prop_map(Value::Array),
        Just(Value::Object(Default::default())),
        Just(Value::String("v1.0.0".into())),
        Just(Value::String("v1.11.0".into())),
        Just(Value::String("enr:-HW4QEp-BLhP30tqTGFbR9n2PdUKWP9qc0zphIRmn8_jpm4BYkgekztXQaPA_znRW8RvNYHo0pUwyPEwUGGeZu26XlKAgmlkgnY0iXNlY3AyNTZrMaEDG4TFVnsSZECZXT7VqroFZdceGDRgSBn_nBf16dXdB48".into())),
    ]
}

/// Walks to the `pick`-th node of the tree (pre-order) and replaces or deletes it.
fn mutate(v: &mut Value, pick: &mut usize, replacement: &Value, delete: bool) -> bool {
    if *pick == 0 {
        *v = replacement.clone();
        return true;
    }
    *pick -= 1;
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if delete && *pick == 0 {
                    m.remove(&k);
                    return true;
                }
                if let Some(child) = m.get_mut(&k)
                    && mutate(child, pick, replacement, delete)
                {
                    return true;
                }
            }
            false
        }
        Value::Array(items) => {
            for i in 0..items.len() {
                if delete && *pick == 0 {
                    items.remove(i);
                    return true;
                }
                if mutate(&mut items[i], pick, replacement, delete) {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn byte_edits_of_real_files_never_panic(
        seed in 0..SEEDS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut b = seeds()[seed].clone();
        for (at, byte, kind) in edits {
            let i = at.index(b.len().max(1));
            match kind {
                0 if i < b.len() => b[i] = byte,
                1 => b.insert(i.min(b.len()), byte),
                _ if i < b.len() => { b.remove(i); }
                _ => {}
            }
        }
        if truncate {
            let n = cut.index(b.len().max(1));
            b.truncate(n);
        }
        exercise(&b);
    }

    #[test]
    fn structural_edits_of_real_files_never_panic(
        seed in 0..SEEDS.len(),
        edits in prop::collection::vec((0usize..400, random_value(), any::<bool>()), 1..6),
    ) {
        let mut v: Value = serde_json::from_slice(&seeds()[seed]).unwrap();
        for (pick, replacement, delete) in edits {
            let mut p = pick;
            mutate(&mut v, &mut p, &replacement, delete);
        }
        exercise(&serde_json::to_vec_pretty(&v).unwrap());
    }
}
