//! `create dkg` refuses out-of-range numbers with a clear error instead of
//! wrapping them or aborting on allocation.

use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_charon-dkg-sidecar");
const ADDR: &str = "0x000000000000000000000000000000000000dEaD";

fn enrs(dir: &std::path::Path, n: usize) -> String {
    (0..n)
        .map(|i| {
            let out = Command::new(EXE)
                .args(["create", "enr", "--data-dir"])
                .arg(dir.join(format!("node{i}")))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let text = String::from_utf8(out.stdout).unwrap();
            text.lines()
                .find(|l| l.starts_with("enr:"))
                .unwrap()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn create_dkg(dir: &std::path::Path, enrs: &str, extra: &[&str]) -> Output {
    Command::new(EXE)
        .args(["create", "dkg", "--operator-enrs", enrs])
        .args([
            "--fee-recipient-addresses",
            ADDR,
            "--withdrawal-addresses",
            ADDR,
        ])
        .arg("--output-dir")
        .arg(dir.join("out"))
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn huge_deposit_amount_is_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let enrs = enrs(dir.path(), 4);
    // 36028797018964000 * 10^9 wraps around u64 to exactly 32 * 10^9 gwei.
    let out = create_dkg(
        dir.path(),
        &enrs,
        &["--deposit-amounts", "36028797018964000"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("--deposit-amounts: 36028797018964000 ETH is out of range"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!dir.path().join("out/cluster-definition.json").exists());
    // Sanity: a real partial deposit still works.
    let ok = create_dkg(dir.path(), &enrs, &["--deposit-amounts", "1,31"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
}

#[test]
fn absurd_validator_count_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let enrs = enrs(dir.path(), 4);
    for n in ["65537", "18446744073709551615"] {
        let out = create_dkg(dir.path(), &enrs, &["--num-validators", n]);
        assert_eq!(out.status.code(), Some(1), "{n}: {out:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "{n} validators requested; at most 65536 per cluster"
            )),
            "{n}: {err}"
        );
    }
    assert!(!dir.path().join("out/cluster-definition.json").exists());
}
