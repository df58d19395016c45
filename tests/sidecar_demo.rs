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
        base_port: 0,
        timeout: Duration::from_secs(60),
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
    };
    let err = run_demo(&opts, |_, _| {
        charon_dkg_sidecar::sidecar::lifecycle::UnavailableDkg
    })
    .await
    .unwrap_err();
    assert!(matches!(err, DemoError::Setup(_)), "{err}");
}
