//! The demo's orchestration up to the DKG: N sidecars against the fake API
//! accept their invitations automatically (real EIP-712 signatures checked by
//! the fake) and all reach the ceremony with the same fully signed definition.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use charon_dkg_sidecar::sidecar::defn;
use charon_dkg_sidecar::sidecar::demo::{DemoError, DemoOptions, run_demo};
use charon_dkg_sidecar::sidecar::lifecycle::{DkgRunError, DkgRunner};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Gate {
    barrier: Arc<tokio::sync::Barrier>,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl DkgRunner for Gate {
    async fn run(
        &self,
        definition_file: &Path,
        _data_dir: &Path,
        _cancel: CancellationToken,
    ) -> Result<(), DkgRunError> {
        let def: Value = serde_json::from_slice(&std::fs::read(definition_file).unwrap()).unwrap();
        self.seen.lock().unwrap().push(def);
        self.barrier.wait().await;
        Err(DkgRunError::new("stand-in ceremony stops here"))
    }
}

#[tokio::test]
async fn every_sidecar_reaches_the_dkg_with_the_same_signed_definition() {
    let out = tempfile::tempdir().unwrap();
    let n = 4;
    let gate = Gate {
        barrier: Arc::new(tokio::sync::Barrier::new(n)),
        seen: Arc::default(),
    };
    let opts = DemoOptions {
        operators: n,
        threshold: 3,
        validators: 2,
        output_dir: out.path().to_path_buf(),
        relays: vec!["http://127.0.0.1:1".into()],
        base_port: charon_dkg_sidecar::cmd::localnet::free_ports(4).unwrap(),
        timeout: Duration::from_secs(60),
        json: false,
    };
    let g = gate.clone();
    let err = run_demo(&opts, move |_, config| {
        assert!(config.operator_private_key_file.is_some());
        g.clone()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, DemoError::Node { .. }), "{err}");
    assert!(err.to_string().contains("stand-in ceremony"));
    let seen = gate.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), n);
    for d in &seen {
        assert_eq!(d["config_hash"], seen[0]["config_hash"]);
        defn::verify_definition(d).unwrap();
        let ops = d["operators"].as_array().unwrap();
        assert!(
            ops.iter()
                .all(|o| o["enr_signature"].as_str().is_some_and(|s| !s.is_empty()))
        );
    }
    for i in 0..n {
        let node = out.path().join(format!("node{i}"));
        assert!(node.join("charon-enr-private-key").is_file());
        assert!(!node.join("cluster-lock.json").exists());
    }
}

#[tokio::test]
async fn rejects_an_impossible_cluster() {
    let out = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        operators: 3,
        threshold: 4,
        validators: 1,
        output_dir: out.path().to_path_buf(),
        relays: vec![],
        base_port: 0,
        timeout: Duration::from_secs(5),
        json: false,
    };
    let err = run_demo(&opts, |_, _| {
        charon_dkg_sidecar::sidecar::lifecycle::UnavailableDkg
    })
    .await
    .unwrap_err();
    assert!(matches!(err, DemoError::Setup(_)), "{err}");
}

#[tokio::test]
async fn a_taken_node_port_is_a_set_up_error_that_names_the_flag() {
    let out = tempfile::tempdir().unwrap();
    let base = charon_dkg_sidecar::cmd::localnet::free_ports(3).unwrap();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", base + 2)).unwrap();
    let opts = DemoOptions {
        operators: 3,
        threshold: 2,
        validators: 1,
        output_dir: out.path().to_path_buf(),
        relays: vec![],
        base_port: base,
        timeout: Duration::from_secs(5),
        json: false,
    };
    let err = run_demo(&opts, |_, _| {
        charon_dkg_sidecar::sidecar::lifecycle::UnavailableDkg
    })
    .await
    .unwrap_err();
    assert!(matches!(err, DemoError::Setup(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{}", base + 2)), "{msg}");
    assert!(msg.contains("--base-port"), "{msg}");
    assert!(!out.path().join("node0").exists(), "nothing is set up");
}

const EXE: &str = env!("CARGO_BIN_EXE_charon-dkg-sidecar");

/// Runs `demo` as a user does, logging at `level`, and returns its exit
/// status and everything it printed (stdout and stderr).
fn demo(out: &Path, level: &str, format: &str) -> (std::process::ExitStatus, String) {
    // The demo's four nodes listen on port..port+3.
    let port = charon_dkg_sidecar::cmd::localnet::free_ports(4).unwrap();
    let o = std::process::Command::new(EXE)
        .args(["demo", "--output-dir"])
        .arg(out)
        .args(["--base-port", &port.to_string()])
        .args(["--log-level", level, "--log-format", format])
        .env_remove("LOG_LEVEL")
        .env_remove("LOG_FORMAT")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status, text)
}

const STEP_NAMES: [&str; 8] = [
    "FROST key generation",
    "deposit data",
    "builder registrations",
    "lock hash signature",
    "node signatures",
    "verification",
    "outputs",
    "shutdown",
];

/// A healthy demo at INFO (so every WARN/ERROR of every node, the relay and
/// the fake API would show): no WARN or ERROR line, the eight step lines in
/// order each naming all four nodes, every node verified, and the next steps.
#[test]
fn a_healthy_demo_tells_its_story_without_warnings() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("demo");
    let (status, text) = demo(&dir, "info", "console");
    assert!(status.success(), "{text}");
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(bad.is_empty(), "warnings in a healthy run: {bad:#?}");
    let steps: Vec<&str> = text.lines().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(steps.len(), 8, "{text}");
    for (i, (line, name)) in steps.iter().zip(STEP_NAMES).enumerate() {
        assert!(
            line.starts_with(&format!("step {}/8 {name}", i + 1)),
            "{line}"
        );
        for n in 0..4 {
            assert!(line.contains(&format!("node{n}")), "{line}");
        }
        assert!(line.ends_with(" s"), "{line}");
    }
    for n in 0..4 {
        assert!(
            text.contains(&format!(
                "verify node{n}: accepted (node {n} of 4, 2 keystores"
            )),
            "{text}"
        );
    }
    assert!(text.contains(&format!(
        "charon-dkg-sidecar verify --data-dir {}",
        dir.join("node0").display()
    )));
    assert!(text.contains("charon-dkg-sidecar run"), "{text}");
}

/// With `--log-format json` every line is a JSON object, and the step lines
/// carry the same fields as the console ones.
#[test]
fn the_json_demo_prints_only_json_with_the_step_fields() {
    let out = tempfile::tempdir().unwrap();
    let (status, text) = demo(&out.path().join("demo"), "info", "json");
    assert!(status.success(), "{text}");
    let mut steps = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let Some(level) = v["level"].as_str() {
            assert!(level != "WARN" && level != "ERROR", "{line}");
        }
        if v.get("step").is_some() {
            steps.push(v);
        }
    }
    assert_eq!(steps.len(), 8, "{text}");
    for (i, v) in steps.iter().enumerate() {
        assert_eq!(v["step"], i as u64 + 1);
        assert_eq!(v["of"], 8);
        assert_eq!(v["name"], STEP_NAMES[i]);
        assert_eq!(v["nodes"].as_array().unwrap().len(), 4, "{v}");
        assert!(v["duration_s"].as_f64().is_some(), "{v}");
    }
}
