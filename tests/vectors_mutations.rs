//! Mutations of real, fully verifiable locks with charon's verdict for each
//! (cluster-formats spec §9), plus the tamper classes charon's table implies.
//! "Rehashed" mutations recompute config, definition and lock hashes with our
//! own hasher, so only signature checks can catch them.

use charon_dkg_sidecar::frost::bls::SecretKey;
use charon_dkg_sidecar::lock::network::NetworkSet;
use charon_dkg_sidecar::lock::{Lock, VerifyOptions, Version, verify_lock};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/");

/// Real, fully verifiable locks (INDEX.md §1 and §2).
const BASES: &[&str] = &[
    "charon__cluster__examples__cluster-lock-000.json",
    "charon__cluster__examples__cluster-lock-001.json",
    "charon__cluster__examples__cluster-lock-002.json",
    "charon__cluster__manifest__testdata__lock2.json@b3ed85617.json",
    "charon__cluster__examples__cluster-lock-003.json",
    "obol-sdk__test__fixtures.ts__nullDepositAmountsClusterLockV1X8.json",
    "obol-sdk__test__fixtures.ts__clusterLockV1X10.json",
    "charon__cmd__testdata__test_cluster_lock.json@094953abf.json",
];

fn opts() -> VerifyOptions {
    VerifyOptions {
        networks: NetworkSet::WITH_HOLESKY,
        check_deposits: true,
        registration_signatures: true,
    }
}

fn load(name: &str) -> (Vec<u8>, Lock) {
    let bytes = std::fs::read(format!("{DIR}{name}")).unwrap();
    let lock = Lock::from_json(&bytes).unwrap();
    (bytes, lock)
}

fn rehash(mut l: Lock) -> Lock {
    l.definition = l.definition.with_hashes().unwrap();
    l.lock_hash = l.lock_hash().unwrap().to_vec();
    l
}

fn signed(l: &Lock) -> bool {
    l.definition
        .operators
        .iter()
        .any(|o| !o.config_signature.is_empty())
}

fn verdict(l: &Lock) -> Result<(), String> {
    verify_lock(l, &opts()).map_err(|e| e.to_string())
}

fn verdict_json(bytes: &[u8]) -> Result<(), String> {
    let l = Lock::from_json(bytes).map_err(|e| format!("parse: {e}"))?;
    verdict(&l)
}

fn expect_reject(name: &str, what: &str, got: Result<(), String>, check: &str) {
    match got {
        Ok(()) => panic!("{name}: {what}: accepted, expected rejection with {check:?}"),
        Err(e) => assert!(
            e.contains(check),
            "{name}: {what}: got {e:?}, expected {check:?}"
        ),
    }
}

fn expect_accept(name: &str, what: &str, got: Result<(), String>) {
    if let Err(e) = got {
        panic!("{name}: {what}: rejected: {e}");
    }
}

/// Applies `f` to every string at a byte-field key (hex-encoded from v1.2).
fn map_hex_fields(v: &mut Value, f: &dyn Fn(&str, &str) -> String) {
    const KEYS: &[&str] = &[
        "config_hash",
        "definition_hash",
        "lock_hash",
        "signature_aggregate",
        "fork_version",
        "config_signature",
        "enr_signature",
        "distributed_public_key",
        "public_shares",
        "node_signatures",
        "pubkey",
        "withdrawal_credentials",
        "signature",
        "fee_recipient",
    ];
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if KEYS.contains(&k.as_str()) {
                    match val {
                        Value::String(s) => *s = f(k, s),
                        Value::Array(items) => {
                            for it in items {
                                if let Value::String(s) = it {
                                    *s = f(k, s);
                                }
                            }
                        }
                        _ => map_hex_fields(val, f),
                    }
                } else {
                    map_hex_fields(val, f);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_hex_fields(i, f)),
        _ => {}
    }
}

fn secp_n_minus(s: &[u8]) -> Vec<u8> {
    let n =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(s[i]) - borrow;
        out[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out
}

#[test]
fn bases_are_accepted() {
    for name in BASES {
        let (_, l) = load(name);
        expect_accept(name, "unmodified", verdict(&l));
    }
}

#[test]
fn encoding_mutations_charon_tolerates() {
    for name in BASES {
        let (bytes, l) = load(name);
        let v = l.definition.version;
        expect_accept(name, "re-serialised", verdict_json(&l.to_json().unwrap()));
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        expect_accept(
            name,
            "compact",
            verdict_json(&serde_json::to_vec(&json).unwrap()),
        );

        if v >= Version::V1_2 {
            let mut up = json.clone();
            map_hex_fields(&mut up, &|_, s| match s.strip_prefix("0x") {
                Some(h) => format!("0x{}", h.to_uppercase()),
                None => s.to_owned(),
            });
            expect_accept(
                name,
                "upper-case hex",
                verdict_json(&serde_json::to_vec(&up).unwrap()),
            );

            let mut bare = json.clone();
            map_hex_fields(&mut bare, &|k, s| {
                if [
                    "config_hash",
                    "definition_hash",
                    "lock_hash",
                    "signature_aggregate",
                ]
                .contains(&k)
                {
                    s.trim_start_matches("0x").to_owned()
                } else {
                    s.to_owned()
                }
            });
            expect_accept(
                name,
                "0x removed",
                verdict_json(&serde_json::to_vec(&bare).unwrap()),
            );
        }

        if v >= Version::V1_3 && signed(&l) {
            let mut m = l.clone();
            m.definition.operators[0].address = m.definition.operators[0].address.to_lowercase();
            expect_accept(name, "address lower-cased", verdict(&m));
        }

        if v.has_registrations() {
            let mut m = l.clone();
            for s in &mut m.node_signatures {
                s[64] += 27;
            }
            expect_accept(name, "node signature V 27/28", verdict(&m));

            let mut m = l.clone();
            for s in &mut m.node_signatures {
                let hi = secp_n_minus(&s[32..64]);
                s[32..64].copy_from_slice(&hi);
                s[64] ^= 1;
            }
            expect_accept(name, "high-S node signatures", verdict(&m));
        }

        let mut m = l.clone();
        m.signature_aggregate.clear();
        if v.uses_base64() {
            expect_accept(name, "aggregate emptied (v1.0/v1.1)", verdict(&m));
        } else {
            expect_reject(
                name,
                "aggregate emptied",
                verdict(&m),
                "empty lock aggregate signature",
            );
        }
    }
}

#[test]
fn hash_mutations() {
    for name in BASES {
        let (_, l) = load(name);
        let mut m = l.clone();
        *m.lock_hash.last_mut().unwrap() ^= 1;
        expect_reject(name, "lock hash flipped", verdict(&m), "invalid lock hash");

        let mut m = l.clone();
        m.definition.name.push('!');
        expect_reject(name, "name changed", verdict(&m), "invalid config hash");

        let mut m = l.clone();
        m.definition.definition_hash[0] ^= 1;
        expect_reject(
            name,
            "definition hash flipped",
            verdict(&m),
            "invalid definition hash",
        );

        let mut m = l.clone();
        m.validators.pop();
        m.lock_hash = m.lock_hash().unwrap().to_vec();
        expect_reject(
            name,
            "last DV removed",
            verdict(&m),
            "lock validators count mismatch",
        );
    }
}

#[test]
fn rehashed_definition_mutations() {
    for name in BASES {
        let (_, l) = load(name);
        let v = l.definition.version;
        let sig_err = if signed(&l) {
            "invalid operator config signature"
        } else {
            "verify lock signature aggregate"
        };

        let mut m = l.clone();
        m.definition.name.push('!');
        expect_reject(name, "name changed, rehashed", verdict(&rehash(m)), sig_err);

        let mut m = l.clone();
        m.definition.threshold -= 1;
        let thr_err = if signed(&l) {
            "invalid operator config signature"
        } else {
            "public shares do not reconstruct distributed public key"
        };
        expect_reject(name, "threshold decremented", verdict(&rehash(m)), thr_err);

        let mut m = l.clone();
        let mainnet = vec![0, 0, 0, 0];
        let goerli = vec![0, 0, 0x10, 0x20];
        m.definition.fork_version = if m.definition.fork_version == mainnet {
            goerli
        } else {
            mainnet
        };
        expect_reject(name, "fork version changed", verdict(&rehash(m)), sig_err);

        // Relabel to the previous version within the same layout family.
        let older = match v {
            Version::V1_2 => Some(Version::V1_1),
            Version::V1_7 => Some(Version::V1_6),
            Version::V1_8 => Some(Version::V1_7),
            Version::V1_10 => Some(Version::V1_9),
            Version::V1_6 => Some(Version::V1_5),
            _ => None,
        };
        if let Some(older) = older {
            let mut m = l.clone();
            m.definition.version = older;
            m.definition.target_gas_limit = 0;
            m.definition.compounding = false;
            // Round-trip through JSON so fields the older version lacks go.
            let m = Lock::from_json(&rehash(m).to_json().unwrap()).unwrap();
            expect_reject(name, "relabelled older", verdict(&rehash(m)), sig_err);
        }

        if signed(&l) && l.definition.operators.len() >= 2 {
            let mut m = l.clone();
            let ops = &mut m.definition.operators;
            let (a, b) = (ops[0].enr_signature.clone(), ops[1].enr_signature.clone());
            ops[0].enr_signature = b;
            ops[1].enr_signature = a;
            expect_reject(
                name,
                "enr signatures swapped",
                verdict(&rehash(m)),
                "invalid operator enr signature",
            );

            let mut m = l.clone();
            m.definition.operators[0].config_signature.clear();
            expect_reject(
                name,
                "config signature emptied",
                verdict(&rehash(m)),
                "empty operator config signature",
            );

            let mut m = l.clone();
            m.definition.operators[0].enr_signature.clear();
            expect_reject(
                name,
                "enr signature emptied",
                verdict(&rehash(m)),
                "empty operator enr signature",
            );

            let mut m = l.clone();
            let op = &mut m.definition.operators[0];
            op.address.clear();
            op.config_signature.clear();
            op.enr_signature.clear();
            expect_reject(
                name,
                "operator 0 unsigned",
                verdict(&rehash(m)),
                "invalid operator config signature",
            );

            let mut m = l.clone();
            m.definition.operators[0].config_signature[64] = 2;
            expect_reject(
                name,
                "EIP-712 signature V=2",
                verdict(&rehash(m)),
                "invalid recovery id",
            );

            let mut m = l.clone();
            m.definition.operators[0].config_signature.truncate(64);
            expect_reject(
                name,
                "64-byte signature",
                verdict(&rehash(m)),
                "invalid signature length",
            );
        }

        if signed(&l) && v.has_creator() {
            let mut m = l.clone();
            m.definition.creator.config_signature[40] ^= 1;
            expect_reject(
                name,
                "creator signature flipped",
                verdict(&rehash(m)),
                "invalid creator config signature",
            );

            let mut m = l.clone();
            m.definition.creator.config_signature.clear();
            expect_reject(
                name,
                "creator signature emptied",
                verdict(&rehash(m)),
                "empty creator config signature",
            );
        }
    }
}

#[test]
fn rehashed_validator_mutations() {
    for name in BASES {
        let (_, l) = load(name);
        let v = l.definition.version;
        let n = l.definition.operators.len();
        let t = l.definition.threshold as usize;

        let mut m = l.clone();
        m.validators[0].public_shares.swap(0, 1);
        expect_reject(
            name,
            "shares 0 and 1 swapped",
            verdict(&rehash(m)),
            "public shares do not reconstruct distributed public key",
        );

        let mut m = l.clone();
        let first = m.validators[0].public_shares[0].clone();
        m.validators[0].public_shares[1] = first;
        expect_reject(
            name,
            "duplicate share",
            verdict(&rehash(m)),
            "duplicate public share",
        );

        let mut m = l.clone();
        m.validators[0].public_shares.pop();
        expect_reject(
            name,
            "missing share",
            verdict(&rehash(m)),
            "invalid public share count",
        );

        // A share moved off the polynomial: a valid point of another key.
        let mut m = l.clone();
        let other = SecretKey::from_bytes(&[5u8; 32]).unwrap().public_key();
        m.validators[0].public_shares[n - 1] = other.0.to_vec();
        let off_err = if t < n {
            "extra share does not lie on distributed key polynomial"
        } else {
            "public shares do not reconstruct distributed public key"
        };
        expect_reject(
            name,
            "share off the polynomial",
            verdict(&rehash(m)),
            off_err,
        );

        let mut m = l.clone();
        m.validators[0].public_shares[0] = vec![0u8; 48];
        expect_reject(
            name,
            "share not a point",
            verdict(&rehash(m)),
            "invalid public share",
        );

        if l.validators.len() >= 2 {
            if t < n {
                let mut m = l.clone();
                let s = m.validators[1].public_shares[n - 1].clone();
                m.validators[0].public_shares[n - 1] = s;
                expect_reject(
                    name,
                    "last share from DV 1",
                    verdict(&rehash(m)),
                    "extra share does not lie on distributed key polynomial",
                );
            }
            let mut m = l.clone();
            let first = m.validators[0].clone();
            *m.validators.last_mut().unwrap() = first;
            expect_reject(
                name,
                "last DV = first",
                verdict(&rehash(m)),
                "duplicate distributed validator public key",
            );
        }

        let mut m = l.clone();
        m.definition.threshold = n as u64 + 1;
        // Unsigned definitions reach the share check; signed ones fail earlier.
        let got = verdict(&rehash(m));
        assert!(got.is_err(), "{name}: threshold above n accepted");

        if v.has_registrations() {
            let mut m = l.clone();
            m.validators[0].builder_registration.message.gas_limit += 1;
            expect_reject(
                name,
                "gas limit + 1",
                verdict(&rehash(m)),
                "verify lock signature aggregate",
            );

            let mut m = l.clone();
            m.validators[0].builder_registration.signature.clear();
            expect_reject(
                name,
                "registration missing",
                verdict(&rehash(m)),
                "verify lock signature aggregate",
            );
        }
        if v.has_deposit_data() {
            let mut m = l.clone();
            m.validators[0].deposit_data[0].amount += 1;
            expect_reject(
                name,
                "deposit amount + 1",
                verdict(&rehash(m)),
                "verify lock signature aggregate",
            );
        }
    }
}

#[test]
fn signature_mutations() {
    let other_sig = SecretKey::from_bytes(&[9u8; 32])
        .unwrap()
        .sign(b"something else");
    for name in BASES {
        let (_, l) = load(name);
        let v = l.definition.version;

        let mut m = l.clone();
        m.signature_aggregate = other_sig.0.to_vec();
        expect_reject(
            name,
            "aggregate replaced",
            verdict(&m),
            "verify lock signature aggregate",
        );

        let mut m = l.clone();
        m.signature_aggregate[50] ^= 1;
        expect_reject(
            name,
            "aggregate byte flipped",
            verdict(&m),
            "verify lock signature aggregate",
        );

        let mut m = l.clone();
        m.signature_aggregate.truncate(95);
        expect_reject(
            name,
            "aggregate truncated",
            verdict(&m),
            "verify lock signature aggregate",
        );

        if !v.has_registrations() {
            continue;
        }
        let mut m = l.clone();
        m.node_signatures.pop();
        expect_reject(
            name,
            "node signature removed",
            verdict(&m),
            "invalid node signature count",
        );

        let mut m = l.clone();
        m.node_signatures.swap(0, 1);
        expect_reject(
            name,
            "node signatures swapped",
            verdict(&m),
            "invalid node signature",
        );

        let mut m = l.clone();
        m.node_signatures[0][40] ^= 1;
        expect_reject(
            name,
            "node signature S flipped",
            verdict(&m),
            "invalid node signature",
        );

        let mut m = l.clone();
        m.node_signatures[0][64] = 2;
        expect_reject(
            name,
            "node signature V=2",
            verdict(&m),
            "invalid recovery id",
        );

        let mut m = l.clone();
        m.node_signatures[1].clear();
        expect_reject(
            name,
            "node signature emptied",
            verdict(&m),
            "invalid node signature",
        );

        // Node signatures are not in the lock hash: a stale lock hash fails.
        let mut m = l.clone();
        m.validators[0].builder_registration.message.timestamp += 1;
        m.lock_hash = m.lock_hash().unwrap().to_vec();
        expect_reject(
            name,
            "stale signatures after lock rehash",
            verdict(&m),
            "verify lock signature aggregate",
        );
    }
}

#[test]
fn skipping_registration_pairings_keeps_every_other_check() {
    let skip = VerifyOptions {
        registration_signatures: false,
        ..opts()
    };
    for name in BASES {
        let (_, l) = load(name);
        verify_lock(&l, &skip).unwrap_or_else(|e| panic!("{name}: {e}"));
        if !l.definition.version.has_registrations() {
            continue;
        }
        // A missing registration is structural: still refused.
        let mut m = l.clone();
        m.validators[0].builder_registration.signature.clear();
        assert!(verify_lock(&rehash(m), &skip).is_err(), "{name}");
        // A signature over the wrong message is still caught by the aggregate,
        // which signs the lock hash that covers every registration.
        let mut m = l.clone();
        m.validators[0].builder_registration.signature[5] ^= 1;
        assert!(verify_lock(&rehash(m), &skip).is_err(), "{name}");
    }
}
