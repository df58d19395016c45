//! Every definition and lock in `shared/vectors/`: hashes, verdicts and
//! byte-exact round trips, against `EXPECTED.json`.

use charon_dkg_sidecar::lock::network::NetworkSet;
use charon_dkg_sidecar::lock::{
    Definition, Lock, ParseError, VerifyOptions, verify_definition, verify_lock,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/");

fn expected() -> Vec<(String, serde_json::Value)> {
    let raw = std::fs::read(format!("{DIR}EXPECTED.json")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let mut out: Vec<_> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 45, "EXPECTED.json lists {} files", out.len());
    out
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap()
}

/// Files written by charon's own JSON writer (INDEX.md §4 and §2), which must
/// round-trip byte for byte.
fn charon_written(name: &str) -> bool {
    name.starts_with("charon__cluster__testdata__cluster_")
        || name == "charon__cmd__testdata__test_cluster_lock.json@094953abf.json"
}

enum Parsed {
    Def(Definition),
    Lock(Lock),
}

fn parse(name: &str, kind: &str) -> Result<Parsed, ParseError> {
    let bytes = read(name);
    if kind == "lock" {
        Lock::from_json(&bytes).map(Parsed::Lock)
    } else {
        Definition::from_json(&bytes).map(Parsed::Def)
    }
}

fn definition_hashes_ok(d: &Definition) -> bool {
    d.config_hash().map(|h| h.to_vec()).ok() == Some(d.config_hash.clone())
        && d.definition_hash().map(|h| h.to_vec()).ok() == Some(d.definition_hash.clone())
}

#[test]
fn hashes_match_expected() {
    for (name, exp) in expected() {
        let kind = exp["kind"].as_str().unwrap();
        let want_valid = exp["hashes"] == "valid";
        let got_valid = match parse(&name, kind) {
            Err(e) => {
                assert!(!want_valid, "{name}: parse failed: {e}");
                continue;
            }
            Ok(Parsed::Def(d)) => definition_hashes_ok(&d),
            Ok(Parsed::Lock(l)) => {
                definition_hashes_ok(&l.definition)
                    && l.validators.len() as u64 == l.definition.num_validators
                    && l.lock_hash().map(|h| h.to_vec()).ok() == Some(l.lock_hash.clone())
            }
        };
        assert_eq!(got_valid, want_valid, "{name}: hashes");
    }
}

#[test]
fn charon_written_files_round_trip_byte_for_byte() {
    let mut checked = 0;
    for (name, exp) in expected() {
        if !charon_written(&name) {
            continue;
        }
        let bytes = read(&name);
        let out = match parse(&name, exp["kind"].as_str().unwrap()).unwrap() {
            Parsed::Def(d) => d.to_json().unwrap(),
            Parsed::Lock(l) => l.to_json().unwrap(),
        };
        assert!(
            out == bytes,
            "{name}: re-serialised bytes differ\n--- got\n{}\n--- want\n{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&bytes)
        );
        checked += 1;
    }
    assert_eq!(checked, 25);
}

#[test]
fn every_file_round_trips_to_an_equal_model() {
    for (name, exp) in expected() {
        let kind = exp["kind"].as_str().unwrap();
        match parse(&name, kind) {
            Err(_) => continue,
            Ok(Parsed::Def(d)) => {
                let again = Definition::from_json(&d.to_json().unwrap()).unwrap();
                assert_eq!(again, d.with_hashes().unwrap(), "{name}");
            }
            Ok(Parsed::Lock(l)) => {
                let out = l.to_json().unwrap();
                let again = Lock::from_json(&out).unwrap();
                assert_eq!(again.validators, l.validators, "{name}");
                assert_eq!(again.node_signatures, l.node_signatures, "{name}");
                assert_eq!(again.signature_aggregate, l.signature_aggregate, "{name}");
                // Writing is idempotent once the stored hashes are current.
                if exp["hashes"] == "valid" {
                    assert_eq!(again.to_json().unwrap(), out, "{name}");
                }
            }
        }
    }
}

#[test]
fn unsupported_version_is_a_parse_error() {
    let err = Definition::from_json(&read("invalid__cluster_definition_incorrect_version.json"))
        .unwrap_err();
    assert_eq!(
        err,
        ParseError::UnsupportedVersion("INCORRECT_VERSION".into())
    );
    assert!(err.to_string().contains("unsupported definition version"));
}

fn verdict(name: &str, kind: &str, opts: &VerifyOptions) -> Result<(), String> {
    match parse(name, kind).map_err(|e| format!("parse: {e}"))? {
        Parsed::Def(d) => verify_definition(&d, opts).map_err(|e| e.to_string()),
        Parsed::Lock(l) => verify_lock(&l, opts).map_err(|e| e.to_string()),
    }
}

#[test]
fn verdicts_match_expected() {
    for (name, exp) in expected() {
        let kind = exp["kind"].as_str().unwrap();
        let want_accept = exp["verify"] == "accept";
        for opts in [VerifyOptions::CHARON, VerifyOptions::default()] {
            let got = verdict(&name, kind, &opts);
            assert_eq!(
                got.is_ok(),
                want_accept,
                "{name} ({opts:?}): {got:?}; note: {}",
                exp["note"]
            );
        }
        if exp.get("needs").is_some() {
            let opts = VerifyOptions {
                networks: NetworkSet::WITH_HOLESKY,
                check_deposits: true,
                registration_signatures: true,
            };
            let got = verdict(&name, kind, &opts);
            assert!(got.is_ok(), "{name} with holesky: {got:?}");
        }
    }
}

#[test]
fn rejections_name_charons_check() {
    let cases = [
        (
            "charon__cluster__manifest__testdata__lock.json@b3ed85617.json",
            "lock",
            "verify lock signature aggregate",
        ),
        (
            "charon__cluster__manifest__testdata__lock3.json@b3ed85617.json",
            "lock",
            "invalid config hash",
        ),
        (
            "charon__cmd__testdata__test_cluster_lock.json",
            "lock",
            "invalid config hash",
        ),
        (
            "charon__cmd__testdata__test_cluster_lock.json@094953abf.json",
            "lock",
            "invalid fork version",
        ),
        (
            "charon__cluster__examples__cluster-definition-006.json@094953abf.json",
            "definition",
            "invalid fork version",
        ),
        (
            "charon__app__testdata__test-cluster-lock.json",
            "lock",
            "invalid operator config signature",
        ),
    ];
    for (name, kind, check) in cases {
        let err = verdict(name, kind, &VerifyOptions::default()).unwrap_err();
        assert!(err.contains(check), "{name}: {err}");
        assert!(err.starts_with(&format!("{kind} rejected: ")), "{err}");
    }
}
