//! Security review B1: a stop request (what SIGTERM/SIGINT do to `run`)
//! during a real embedded ceremony. Before this node announced step 7 no
//! peer can have committed, so the attempt is abandoned and nothing of it is
//! left; from step 7 on peers may already hold their keys, so the ceremony is
//! finished and this node's committed outputs are never removed.
//!
//! Three sidecars, the fake Obol API, an in-process relay, the real DKG.

use std::path::PathBuf;
use std::time::Duration;

use charon_dkg_sidecar::dkg::ceremony::ProgressState;
use charon_dkg_sidecar::p2p::identity::EnrPrivateKey;
use charon_dkg_sidecar::p2p::relay::{RelayServer, RelayServerConfig};
use charon_dkg_sidecar::sidecar::api::{ObolApi, RetryPolicy};
use charon_dkg_sidecar::sidecar::config::{DkgFlags, Settings};
use charon_dkg_sidecar::sidecar::defn;
use charon_dkg_sidecar::sidecar::embedded::EmbeddedDkg;
use charon_dkg_sidecar::sidecar::fake_api::{FakeApi, FakeApiOptions};
use charon_dkg_sidecar::sidecar::fixture::ClusterFixture;
use charon_dkg_sidecar::sidecar::lifecycle::{Outcome, Sidecar};
use tokio_util::sync::CancellationToken;

fn free_port() -> u16 {
    charon_dkg_sidecar::cmd::localnet::free_port().unwrap()
}

async fn relay() -> RelayServer {
    let mut cfg = RelayServerConfig::new(
        EnrPrivateKey::generate(),
        vec![([127, 0, 0, 1], free_port()).into()],
    );
    cfg.http_addr = Some(([127, 0, 0, 1], free_port()).into());
    cfg.advertise_private = true;
    RelayServer::start(cfg).await.unwrap()
}

/// When node 0 is told to stop.
#[derive(Debug, Clone, Copy)]
enum StopAt {
    /// As soon as it announces this step.
    Step(u64),
    /// Once its outputs are committed (during the shutdown handshake).
    Committed,
}

impl StopAt {
    fn reached(self, s: &ProgressState) -> bool {
        match self {
            StopAt::Step(k) => s.step >= k,
            StopAt::Committed => s.committed,
        }
    }
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// Runs a 3-node ceremony and stops node 0 at `stop`; the other nodes are
/// stopped once node 0 returned. Returns each node's data dir and outcome.
async fn ceremony(stop: StopAt) -> (tempfile::TempDir, Vec<(PathBuf, Outcome)>) {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let relay = relay().await;
    let relay_url = format!("http://{}", relay.http_addr().unwrap());
    let c = ClusterFixture::new("sigterm", 3, 2, 1, "2026-01-01T00:00:00Z").unwrap();
    api.put_definition(c.fully_signed().unwrap());
    let root = tempfile::tempdir().unwrap();
    let mut sidecars = Vec::new();
    let mut progress = None;
    for (i, op) in c.operators.iter().enumerate() {
        let dir = root.path().join(format!("node{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("charon-enr-private-key"),
            defn::secret_key_hex(&op.node_key).as_str(),
        )
        .unwrap();
        let s = Settings {
            operator_address: Some(op.address.clone()),
            enr_file_path: dir.join("no-enr-file"),
            output_definition_file: dir.join("cluster-definition.json"),
            api_endpoint: api.url().to_string(),
            charon_node_id_dir: dir.clone(),
            charon_private_key_file: dir.join("charon-enr-private-key"),
            initial_retry_interval_seconds: "0.05".into(),
            max_retry_interval_seconds: "0.2".into(),
            backoff_factor: "2".into(),
            page_limit: "10".into(),
            log_level: "info".into(),
            api_timeout_seconds: "5".into(),
            target_config_hash: Some(c.config_hash()),
            dkg: DkgFlags {
                p2p_relays: vec![relay_url.clone()],
                p2p_tcp_address: vec![format!("127.0.0.1:{}", free_port())],
                timeout: "10s".into(),
                publish: "false".into(),
                publish_timeout: "1m".into(),
                shutdown_delay: "0s".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let config = s.validate().unwrap();
        let mut dkg = EmbeddedDkg::new(config.dkg.clone());
        dkg.keystore_pbkdf2_c = 16;
        if i == 0 {
            progress = Some(dkg.progress.clone());
        }
        let api_client = ObolApi::new(
            &config.api_endpoint,
            config.api_timeout,
            RetryPolicy::default(),
        )
        .unwrap();
        sidecars.push((dir, Sidecar::with_api(config, api_client, dkg)));
    }
    let progress = progress.unwrap();
    let tokens: Vec<CancellationToken> =
        sidecars.iter().map(|_| CancellationToken::new()).collect();
    let mut tasks = Vec::new();
    for ((_, sc), t) in sidecars.into_iter().zip(&tokens) {
        let t = t.clone();
        tasks.push(tokio::spawn(async move { sc.run(t).await.unwrap() }));
    }
    // The "signal" for node 0, delivered exactly at the chosen point.
    let mut rx = progress.subscribe();
    rx.wait_for(|s| stop.reached(s)).await.unwrap();
    tokens[0].cancel();
    let mut tasks = tasks.into_iter();
    let first = tokio::time::timeout(Duration::from_secs(120), tasks.next().unwrap())
        .await
        .expect("node 0 did not stop")
        .unwrap();
    for t in &tokens[1..] {
        t.cancel();
    }
    let mut outcomes = vec![first];
    for t in tasks {
        outcomes.push(
            tokio::time::timeout(Duration::from_secs(120), t)
                .await
                .expect("a peer did not stop")
                .unwrap(),
        );
    }
    relay.shutdown().await;
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| root.path().join(format!("node{i}")))
        .collect();
    (root, dirs.into_iter().zip(outcomes).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_before_step_7_leaves_nothing() {
    for k in [1, 6] {
        let (_root, nodes) = ceremony(StopAt::Step(k)).await;
        let (dir, outcome) = &nodes[0];
        assert_eq!(*outcome, Outcome::Cancelled, "step {k}");
        assert_eq!(entries(dir), ["charon-enr-private-key"], "step {k}");
        for (dir, _) in &nodes[1..] {
            assert!(!dir.join("cluster-lock.json").exists(), "step {k}");
            assert!(!dir.join("validator_keys").exists(), "step {k}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_from_step_7_on_finishes_and_keeps_the_outputs() {
    for stop in [StopAt::Step(7), StopAt::Step(8), StopAt::Committed] {
        let (_root, nodes) = ceremony(stop).await;
        let mut locks = Vec::new();
        for (i, (dir, outcome)) in nodes.iter().enumerate() {
            assert_eq!(*outcome, Outcome::Completed, "{stop:?}: node {i}");
            let lock = std::fs::read(dir.join("cluster-lock.json")).unwrap();
            assert!(
                dir.join("validator_keys/keystore-0.json").is_file(),
                "{stop:?}"
            );
            assert!(
                entries(dir).iter().any(|e| e.starts_with("deposit-data")),
                "{stop:?}"
            );
            locks.push(lock);
        }
        assert!(
            locks.windows(2).all(|w| w[0] == w[1]),
            "{stop:?}: locks differ"
        );
        let lock = charon_dkg_sidecar::lock::Lock::from_json(&locks[0]).unwrap();
        charon_dkg_sidecar::lock::verify_lock(
            &lock,
            &charon_dkg_sidecar::lock::VerifyOptions::default(),
        )
        .unwrap();
    }
}
