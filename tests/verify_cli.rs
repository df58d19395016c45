//! The `verify` subcommand end to end: exit codes, one-line messages, no panics.

use std::path::Path;
use std::process::Command;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn verify(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_charon-dkg-sidecar"))
        .arg("verify")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn one_line(s: &str) -> bool {
    s.trim_end().lines().count() == 1
}

fn expected() -> Vec<(String, serde_json::Value)> {
    let raw = std::fs::read(format!("{DIR}EXPECTED.json")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn verdicts_on_every_vector() {
    for (name, exp) in expected() {
        let flag = if exp["kind"] == "lock" {
            "--lock"
        } else {
            "--definition"
        };
        let path = format!("{DIR}{name}");
        let r = verify(&[flag, &path]);
        let want = if name.starts_with("invalid__") {
            2 // unknown version: unusable input
        } else if exp["verify"] == "accept" {
            0
        } else {
            1
        };
        assert_eq!(
            r.code, want,
            "{name}: stdout {:?} stderr {:?}",
            r.stdout, r.stderr
        );
        if want == 0 {
            assert!(
                one_line(&r.stdout) && r.stdout.contains("accepted"),
                "{name}: {}",
                r.stdout
            );
        } else {
            assert!(one_line(&r.stderr), "{name}: {:?}", r.stderr);
        }
        if exp.get("needs").is_some() {
            let r = verify(&[flag, &path, "--holesky"]);
            assert_eq!(r.code, 0, "{name} --holesky: {}", r.stderr);
        }
    }
}

#[test]
fn rejection_names_the_check_and_subject() {
    let r = verify(&[
        "--lock",
        &format!("{DIR}charon__cluster__manifest__testdata__lock.json@b3ed85617.json"),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("lock rejected: verify lock signature aggregate"),
        "{}",
        r.stderr
    );
    let r = verify(&[
        "--definition",
        &format!("{DIR}charon__cluster__testdata__cluster_definition_v1_4_0.json"),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("(operator 0)"), "{}", r.stderr);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn unusable_input_exits_2_with_a_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(format!(
        "{DIR}charon__cluster__examples__cluster-lock-003.json"
    ))
    .unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.json", vec![], "invalid JSON"),
        (
            "truncated.json",
            good[..good.len() / 2].to_vec(),
            "invalid JSON",
        ),
        ("notjson.json", b"hello".to_vec(), "invalid JSON"),
        ("array.json", b"[1,2]".to_vec(), "expected an object"),
        (
            "version.json",
            br#"{"cluster_definition": {"version": "v9.9.9"}}"#.to_vec(),
            "unsupported definition version",
        ),
        (
            "noversion.json",
            b"{}".to_vec(),
            "unsupported definition version",
        ),
        (
            "badhex.json",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"lock_hash\": \"0x", "\"lock_hash\": \"0xzz", 1)
                .into_bytes(),
            "invalid hex",
        ),
        (
            "wrongtype.json",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"threshold\": 3", "\"threshold\": \"3\"", 1)
                .into_bytes(),
            "threshold",
        ),
        (
            "float.json",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"threshold\": 3", "\"threshold\": 3.5", 1)
                .into_bytes(),
            "threshold",
        ),
        (
            "deep.json",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            "invalid JSON",
        ),
    ];
    for (name, bytes, needle) in cases {
        let path = write(tmp.path(), name, &bytes);
        let r = verify(&["--lock", &path]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(one_line(&r.stderr), "{name}: {:?}", r.stderr);
        assert!(r.stderr.contains(needle), "{name}: {}", r.stderr);
    }
    let missing = tmp.path().join("missing.json");
    let r = verify(&["--lock", &missing.display().to_string()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
    let r = verify(&["--definition", &tmp.path().display().to_string()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn rule_violations_and_bad_enrs_are_rejections() {
    let tmp = tempfile::tempdir().unwrap();
    let good = String::from_utf8(
        std::fs::read(format!(
            "{DIR}charon__cluster__examples__cluster-lock-003.json"
        ))
        .unwrap(),
    )
    .unwrap();
    // An ENR that does not parse: the definition hash changes, so this is caught
    // as a hash mismatch before the ENR is used.
    let bad_enr = good.replacen("\"enr\": \"enr:-", "\"enr\": \"enr:!", 1);
    let r = verify(&["--lock", &write(tmp.path(), "enr.json", bad_enr.as_bytes())]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(one_line(&r.stderr));
    // num_validators does not match the validators list (a charon read rule).
    let count = good.replacen("\"num_validators\": 3", "\"num_validators\": 2", 1);
    let r = verify(&["--lock", &write(tmp.path(), "count.json", count.as_bytes())]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("num_validators does not match validators length"),
        "{}",
        r.stderr
    );
}

#[test]
fn requires_exactly_one_input() {
    let r = verify(&[]);
    assert_eq!(r.code, 2);
    let p = format!("{DIR}charon__cluster__examples__cluster-lock-003.json");
    let r = verify(&["--lock", &p, "--definition", &p]);
    assert_eq!(r.code, 2);
}
