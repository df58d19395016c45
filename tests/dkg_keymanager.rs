//! `dkg --keymanager-address/--keymanager-auth-token` and `--publish`: a real
//! four-process ceremony where operator 0 imports its keys into a keymanager
//! API (a fake: no validator client runs here) and publishes the lock to the
//! (fake) Obol API, as charon dkg does.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use charon_dkg_sidecar::cmd::localnet::{NodeOptions, NodeRun, Relay, start_node, wait_all};
use charon_dkg_sidecar::lock::keystore::{self, Keystore, Password, load_keystores};
use charon_dkg_sidecar::lock::lockfile::Lock;
use charon_dkg_sidecar::sidecar::fake_api::{FakeApi, FakeApiOptions};
use serde_json::{Value, json};

mod common;

use common::Cluster;

const EXE: &str = env!("CARGO_BIN_EXE_charon-dkg-sidecar");
const TOKEN: &str = "km-secret-token";
const VALIDATORS: usize = 3;

#[derive(Clone, Default)]
struct Keymanager {
    status: u16,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn import(
    State(km): State<Keymanager>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let n = body["keystores"].as_array().map_or(0, Vec::len);
    km.requests.lock().unwrap().push((auth, body));
    let status = StatusCode::from_u16(km.status).unwrap();
    if !status.is_success() {
        return (status, axum::Json(json!({"message": "internal error"})));
    }
    let data: Vec<Value> = (0..n)
        .map(|_| json!({"status": "imported", "message": ""}))
        .collect();
    (status, axum::Json(json!({ "data": data })))
}

async fn start_keymanager(status: u16) -> (SocketAddr, Keymanager) {
    let km = Keymanager {
        status,
        ..Default::default()
    };
    let app = Router::new()
        .route("/eth/v1/keystores", post(import))
        .with_state(km.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, km)
}

fn cluster() -> Cluster {
    common::cluster(4, VALIDATORS, "v1.11.0", &[])
}

/// Runs the four nodes, operator 0 with `node0_args`; returns them finished.
fn keymanager_args(addr: SocketAddr) -> Vec<String> {
    vec![
        "--keymanager-address".into(),
        format!("http://{addr}"),
        "--keymanager-auth-token".into(),
        TOKEN.into(),
    ]
}

async fn ceremony(c: &Cluster, node0_args: Vec<String>) -> Vec<NodeRun> {
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let opts = |extra: Vec<String>| NodeOptions {
        definition: c.definition.clone(),
        relay_url: relay.url.clone(),
        timeout: "60s".into(),
        extra_args: extra,
        env: Vec::new(),
    };
    let mut nodes: Vec<NodeRun> = (0..4)
        .map(|i| {
            let extra = if i == 0 {
                node0_args.clone()
            } else {
                Vec::new()
            };
            start_node(Path::new(EXE), i, &c.nodes[i], &opts(extra)).unwrap()
        })
        .collect();
    let nodes = tokio::task::spawn_blocking(move || {
        let r = wait_all(&mut nodes, Duration::from_secs(300));
        assert!(r.is_ok(), "nodes did not finish: {r:?}");
        nodes
    })
    .await
    .unwrap();
    drop(relay);
    nodes
}

fn lock_of(dir: &Path) -> Lock {
    Lock::from_json(&std::fs::read(dir.join("cluster-lock.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_imported_into_the_keymanager_and_the_lock_is_published() {
    let c = cluster();
    let (km_addr, km) = start_keymanager(200).await;
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let def: Value = serde_json::from_slice(&std::fs::read(&c.definition).unwrap()).unwrap();
    api.put_definition(def);
    let nodes = ceremony(
        &c,
        [
            keymanager_args(km_addr),
            vec![
                "--publish".into(),
                "--publish-address".into(),
                format!("{}v1", api.url()),
            ],
        ]
        .concat(),
    )
    .await;
    for n in &nodes {
        assert!(
            n.status.is_some_and(|s| s.success()),
            "node {} failed:\n{}",
            n.index,
            n.log_text()
        );
    }
    let lock = lock_of(&c.nodes[0]);
    // No keystores on disk: they went to the keymanager.
    assert!(!c.nodes[0].join("validator_keys").exists());
    assert!(c.nodes[0].join("deposit-data.json").exists());
    assert!(c.nodes[1].join("validator_keys").exists());

    let requests = km.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "one import request");
    let (auth, body) = &requests[0];
    assert_eq!(auth, &format!("Bearer {TOKEN}"));
    let keystores = body["keystores"].as_array().unwrap();
    let passwords = body["passwords"].as_array().unwrap();
    assert_eq!(keystores.len(), VALIDATORS);
    assert_eq!(passwords.len(), VALIDATORS);
    for (v, (ks, pw)) in keystores.iter().zip(passwords).enumerate() {
        // Each keystore is a JSON document sent as a string, with charon's
        // 64-hex-character keymanager password.
        let ks: Keystore = serde_json::from_str(ks.as_str().unwrap()).unwrap();
        let pw = pw.as_str().unwrap();
        assert_eq!(pw.len(), 64);
        assert!(pw.chars().all(|c| c.is_ascii_hexdigit()));
        let sk = keystore::decrypt(&ks, &Password::new(pw), "import").unwrap();
        assert_eq!(
            sk.public_key().0.as_slice(),
            lock.validators[v].public_shares[0].as_slice()
        );
    }

    // Published once, to <origin>/lock (charon replaces the /v1 path).
    let locks = api.locks();
    assert_eq!(locks.len(), 1);
    assert_eq!(
        locks[0]["lock_hash"].as_str().unwrap().to_ascii_lowercase(),
        format!("0x{}", hex::encode(&lock.lock_hash))
    );
    assert!(
        api.requests().iter().any(|r| r.starts_with("POST /lock")),
        "{:?}",
        api.requests()
    );
    assert!(
        nodes[0]
            .log_text()
            .contains("Published lock file to Obol API")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_import_writes_the_keys_to_disk_and_fails_clearly() {
    let c = cluster();
    let (km_addr, km) = start_keymanager(500).await;
    let nodes = ceremony(&c, keymanager_args(km_addr)).await;
    assert_eq!(km.requests.lock().unwrap().len(), 1);
    let node0 = &nodes[0];
    assert!(
        !node0.status.unwrap().success(),
        "node 0 must report the failed import"
    );
    let log = node0.log_text();
    assert!(log.contains("keymanager import"), "{log}");
    assert!(log.contains("validator_keys"), "{log}");
    for n in &nodes[1..] {
        assert!(
            n.status.unwrap().success(),
            "node {}:\n{}",
            n.index,
            n.log_text()
        );
    }
    // Nothing lost: the lock and every key share are on disk.
    let lock = lock_of(&c.nodes[0]);
    let keys = load_keystores(&c.nodes[0].join("validator_keys")).unwrap();
    assert_eq!(keys.len(), VALIDATORS);
    for (v, sk) in keys {
        assert_eq!(
            sk.public_key().0.as_slice(),
            lock.validators[v].public_shares[0].as_slice()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_keymanager_or_half_set_flags_stop_dkg_before_it_starts() {
    let c = cluster();
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            keymanager_args(SocketAddr::from(([127, 0, 0, 1], port))),
            "unreachable",
        ),
        (
            vec![
                "--keymanager-address".into(),
                format!("http://127.0.0.1:{port}"),
            ],
            "--keymanager-auth-token not set",
        ),
        (
            vec!["--keymanager-auth-token".into(), TOKEN.into()],
            "--keymanager-address not set",
        ),
    ];
    for (extra, want) in cases {
        let out = std::process::Command::new(EXE)
            .arg("dkg")
            .arg("--data-dir")
            .arg(&c.nodes[0])
            .arg("--definition-file")
            .arg(&c.definition)
            .arg("--p2p-relays")
            .arg("http://127.0.0.1:1")
            .arg("--monitoring-address")
            .arg("")
            .args(&extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{extra:?}");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(
            !err.contains(TOKEN),
            "the token must never be printed: {err}"
        );
        assert!(!c.nodes[0].join("cluster-lock.json").exists());
    }
}
