//! Sidecar mode end to end against the in-process fake Obol API: real HTTP on
//! loopback, real EIP-712 signatures and definition hashes. The DKG itself is
//! replaced by a runner that writes (or half-writes) charon's output files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use charon_dkg_sidecar::sidecar::api::{ObolApi, RetryPolicy};
use charon_dkg_sidecar::sidecar::config::{Config, DkgFlags, Settings};
use charon_dkg_sidecar::sidecar::defn;
use charon_dkg_sidecar::sidecar::fake_api::{FakeApi, FakeApiOptions};
use charon_dkg_sidecar::sidecar::fixture::{ClusterFixture, OperatorFixture};
use charon_dkg_sidecar::sidecar::lifecycle::{DkgRunError, DkgRunner, Outcome, Sidecar};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

mod common;

use common::fake_el::{ClosingServer, FakeEl, Triple};

/// Records every ceremony; fails the first `fail_first` after writing partial outputs.
#[derive(Clone, Default)]
struct FakeDkg {
    calls: Arc<Mutex<Vec<Value>>>,
    dirty_on_entry: Arc<Mutex<Vec<String>>>,
    fail_first: Arc<AtomicUsize>,
    hang: bool,
}

impl FakeDkg {
    fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }
}

impl DkgRunner for FakeDkg {
    async fn run(
        &self,
        definition_file: &Path,
        data_dir: &Path,
        cancel: CancellationToken,
    ) -> Result<(), DkgRunError> {
        let def: Value = serde_json::from_slice(&std::fs::read(definition_file).unwrap()).unwrap();
        self.calls.lock().unwrap().push(def.clone());
        assert!(data_dir.join("charon-enr-private-key").is_file());
        for e in std::fs::read_dir(data_dir).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().to_string();
            if n == "validator_keys" || n == "cluster-lock.json" || n.starts_with("deposit-data") {
                self.dirty_on_entry.lock().unwrap().push(n);
            }
        }
        std::fs::create_dir_all(data_dir.join("validator_keys")).unwrap();
        std::fs::write(data_dir.join("validator_keys/keystore-0.json"), "{}").unwrap();
        std::fs::write(data_dir.join("validator_keys/keystore-0.txt"), "pw").unwrap();
        if self.hang {
            cancel.cancelled().await;
            return Err(DkgRunError::new("cancelled"));
        }
        if self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            std::fs::write(data_dir.join("cluster-lock.json"), "{\"partial\":true}").unwrap();
            return Err(DkgRunError::new("peer 2 disconnected during round 1"));
        }
        std::fs::write(data_dir.join("deposit-data.json"), "[]").unwrap();
        let lock = json!({"cluster_definition": def, "lock_hash": "0x00"});
        std::fs::write(data_dir.join("cluster-lock.json"), lock.to_string()).unwrap();
        Ok(())
    }
}

struct Node {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    config: Config,
}

/// A node of `op` whose keys live outside the data directory, like the chart mounts them.
fn node(op: &OperatorFixture, api: &reqwest::Url, edit: impl FnOnce(&mut Settings)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("enr-from-job");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(
        secrets.join("charon-enr-private-key"),
        defn::secret_key_hex(&op.node_key).as_str(),
    )
    .unwrap();
    std::fs::write(secrets.join("enr"), format!("{}\n", op.enr)).unwrap();
    let data_dir = dir.path().join("charon-data");
    let mut s = Settings {
        operator_address: Some(op.address.to_lowercase()),
        enr_file_path: secrets.join("enr"),
        output_definition_file: data_dir.join("cluster-definition.json"),
        api_endpoint: api.to_string(),
        charon_node_id_dir: data_dir.clone(),
        charon_private_key_file: secrets.join("charon-enr-private-key"),
        initial_retry_interval_seconds: "0.05".into(),
        max_retry_interval_seconds: "0.2".into(),
        backoff_factor: "2".into(),
        page_limit: "10".into(),
        log_level: "debug".into(),
        api_timeout_seconds: "1".into(),
        dkg: DkgFlags {
            p2p_relays: vec!["http://127.0.0.1:1".into()],
            timeout: "2m".into(),
            publish: "false".into(),
            publish_timeout: "1m".into(),
            shutdown_delay: "5s".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    edit(&mut s);
    let config = s.validate().unwrap();
    Node {
        _dir: dir,
        data_dir,
        config,
    }
}

fn sidecar(n: &Node, runner: FakeDkg) -> Sidecar<FakeDkg> {
    let api = ObolApi::new(
        &n.config.api_endpoint,
        n.config.api_timeout,
        RetryPolicy {
            retries: 2,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    )
    .unwrap();
    Sidecar::with_api(n.config.clone(), api, runner)
}

/// Runs the sidecar until it returns, failing the test after `limit`.
async fn run_until_done(sc: &Sidecar<FakeDkg>, limit: Duration) -> Outcome {
    tokio::time::timeout(limit, sc.run(CancellationToken::new()))
        .await
        .expect("sidecar did not finish in time")
        .unwrap()
}

/// Runs the sidecar for `d`, then cancels it.
async fn run_for(sc: &Sidecar<FakeDkg>, d: Duration) -> Outcome {
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(d).await;
        c2.cancel();
    });
    sc.run(cancel).await.unwrap()
}

fn ts(i: u32) -> String {
    format!("2026-01-{:02}T10:00:00.000Z", 1 + i % 28)
}

fn assert_outputs(n: &Node) {
    assert!(n.data_dir.join("cluster-lock.json").is_file());
    assert!(n.data_dir.join("validator_keys/keystore-0.json").is_file());
    assert!(n.data_dir.join("charon-enr-private-key").is_file());
}

async fn fake(opts: FakeApiOptions) -> FakeApi {
    FakeApi::start(opts).await.unwrap()
}

#[tokio::test]
async fn finds_the_invitation_on_page_three_with_either_paging_base() {
    for zero_based in [false, true] {
        let api = fake(FakeApiOptions {
            zero_based_pages: zero_based,
            ..Default::default()
        })
        .await;
        let me = OperatorFixture::random().unwrap();
        let others: Vec<OperatorFixture> =
            (0..3).map(|_| OperatorFixture::random().unwrap()).collect();
        // 22 newer clusters in which our operator accepted with another node's ENR.
        for i in 0..22u32 {
            let mut ops = vec![OperatorFixture::random().unwrap()];
            ops.push(OperatorFixture {
                operator_key: me.operator_key.clone(),
                node_key: defn::random_key(),
                address: me.address.clone(),
                enr: OperatorFixture::random().unwrap().enr,
            });
            let c = ClusterFixture::with_operators(&format!("filler {i}"), ops, 2, 1, &ts(10 + i))
                .unwrap();
            api.put_definition(c.fully_signed().unwrap());
        }
        let mut ops = vec![OperatorFixture {
            operator_key: me.operator_key.clone(),
            node_key: me.node_key.clone(),
            address: me.address.clone(),
            enr: me.enr.clone(),
        }];
        ops.extend(others);
        let ours = ClusterFixture::with_operators("ours", ops, 3, 2, &ts(0)).unwrap();
        api.put_definition(ours.fully_signed().unwrap());

        let n = node(&ours.operators[0], &api.url(), |_| {});
        let dkg = FakeDkg::default();
        assert_eq!(
            run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
            Outcome::Completed
        );
        let calls = dkg.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["config_hash"], json!(ours.config_hash()));
        assert_outputs(&n);
        let pages: Vec<String> = api
            .requests()
            .into_iter()
            .filter(|r| r.contains("/v1/definition/operator/"))
            .collect();
        assert!(
            pages
                .iter()
                .any(|r| r.contains(if zero_based { "page=2" } else { "page=3" })),
            "{pages:?}"
        );
    }
}

#[tokio::test]
async fn waits_for_unsigned_operators_then_proceeds() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("group", 4, 3, 1, &ts(1)).unwrap();
    // Only operator 0 (us) accepted so far.
    api.put_definition(c.accepted_by(&c.definition, &[0]).unwrap());
    let n = node(&c.operators[0], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    let sc = sidecar(&n, dkg.clone());
    let client = ObolApi::new(&api.url(), Duration::from_secs(2), RetryPolicy::default()).unwrap();
    let run = tokio::spawn({
        let dkg = dkg.clone();
        async move {
            let o = run_until_done(&sc, Duration::from_secs(20)).await;
            (o, dkg.calls().len())
        }
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(dkg.calls().is_empty(), "DKG started before everyone signed");
    for i in 1..4 {
        c.accept_via_api(&client, i).await.unwrap();
        if i < 3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(dkg.calls().is_empty());
        }
    }
    let (outcome, calls) = run.await.unwrap();
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(calls, 1);
    let used = &dkg.calls()[0];
    defn::verify_definition(used).unwrap();
    assert_outputs(&n);
}

#[tokio::test]
async fn ignores_a_definition_signed_with_another_enr() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("mismatch", 3, 2, 1, &ts(1)).unwrap();
    let elsewhere = OperatorFixture::random().unwrap().enr;
    let def = c.accepted_with(&c.definition, 0, &elsewhere).unwrap();
    api.put_definition(c.accepted_by(&def, &[1, 2]).unwrap());
    let n = node(&c.operators[0], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    assert_eq!(
        run_for(&sidecar(&n, dkg.clone()), Duration::from_millis(800)).await,
        Outcome::Cancelled
    );
    assert!(dkg.calls().is_empty());
    assert!(!n.data_dir.join("cluster-definition.json").exists());
    assert!(api.requests().len() >= 2, "kept polling");
}

/// Every way of tampering with a fully signed definition: each is rejected,
/// and an older genuine definition is used instead.
#[tokio::test]
async fn never_uses_a_tampered_definition() {
    type Tamper = Box<dyn Fn(&mut Value, &ClusterFixture)>;
    let tampers: Vec<(&str, Tamper)> = vec![
        (
            "num_validators changed",
            Box::new(|d, _| d["num_validators"] = json!(5)),
        ),
        (
            "threshold changed",
            Box::new(|d, _| d["threshold"] = json!(1)),
        ),
        (
            "name changed, hashes recomputed",
            Box::new(|d, _| {
                d["name"] = json!("tampered");
                defn::recompute_definition_hash(d).unwrap();
            }),
        ),
        (
            "withdrawal address changed",
            Box::new(|d, _| {
                d["validators"][0]["withdrawal_address"] =
                    json!("0x000000000000000000000000000000000000dead");
            }),
        ),
        (
            "definition_hash changed",
            Box::new(|d, _| {
                d["definition_hash"] = json!(format!("0x{}", "11".repeat(32)));
            }),
        ),
        (
            "operator ENR swapped without re-signing",
            Box::new(|d, c| {
                d["operators"][1]["enr"] = json!(c.operators[2].enr);
                defn::recompute_definition_hash(d).unwrap();
            }),
        ),
        (
            "operator config signature from another key",
            Box::new(|d, _| {
                let s = d["operators"][2]["config_signature"].clone();
                d["operators"][1]["config_signature"] = s;
                defn::recompute_definition_hash(d).unwrap();
            }),
        ),
        (
            "non-empty but bogus signature",
            Box::new(|d, _| {
                d["operators"][1]["enr_signature"] = json!(format!("0x{}1b", "ab".repeat(64)));
                defn::recompute_definition_hash(d).unwrap();
            }),
        ),
        (
            "creator signature removed",
            Box::new(|d, _| {
                d["creator"]["config_signature"] = json!("");
                defn::recompute_definition_hash(d).unwrap();
            }),
        ),
    ];
    for (what, tamper) in tampers {
        let api = fake(FakeApiOptions::default()).await;
        let me = OperatorFixture::random().unwrap();
        let me2 = OperatorFixture {
            operator_key: me.operator_key.clone(),
            node_key: me.node_key.clone(),
            address: me.address.clone(),
            enr: me.enr.clone(),
        };
        let mk = |name: &str, me: OperatorFixture, t: &str| {
            let mut ops = vec![me];
            ops.extend((0..3).map(|_| OperatorFixture::random().unwrap()));
            ClusterFixture::with_operators(name, ops, 3, 1, t).unwrap()
        };
        let genuine = mk("genuine", me, &ts(1));
        let evil = mk("evil", me2, &ts(5));
        let mut bad = evil.fully_signed().unwrap();
        tamper(&mut bad, &evil);
        api.put_definition(genuine.fully_signed().unwrap());
        api.put_definition(bad);
        let n = node(&genuine.operators[0], &api.url(), |_| {});
        let dkg = FakeDkg::default();
        assert_eq!(
            run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
            Outcome::Completed,
            "{what}"
        );
        let calls = dkg.calls();
        assert_eq!(calls.len(), 1, "{what}");
        assert_eq!(
            calls[0]["config_hash"],
            json!(genuine.config_hash()),
            "{what}"
        );
    }
}

#[tokio::test]
async fn tampered_definition_alone_is_never_used() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("alone", 3, 2, 1, &ts(1)).unwrap();
    let mut bad = c.fully_signed().unwrap();
    bad["validators"][0]["fee_recipient_address"] =
        json!("0x000000000000000000000000000000000000dead");
    defn::recompute_definition_hash(&mut bad).unwrap();
    api.put_definition(bad);
    let n = node(&c.operators[0], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    assert_eq!(
        run_for(&sidecar(&n, dkg.clone()), Duration::from_millis(800)).await,
        Outcome::Cancelled
    );
    assert!(dkg.calls().is_empty());
}

#[tokio::test]
async fn survives_500s_stalls_and_garbage() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("flaky", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.fully_signed().unwrap());
    api.fail_next(7, 500);
    let n = node(&c.operators[1], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(30)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls().len(), 1);

    // Stalls longer than the 1 s request timeout, then a non-JSON body.
    let api = fake(FakeApiOptions::default()).await;
    api.put_definition(c.fully_signed().unwrap());
    api.stall_next(2, Duration::from_secs(3));
    let n = node(&c.operators[2], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    let sc = sidecar(&n, dkg.clone());
    assert_eq!(
        run_until_done(&sc, Duration::from_secs(30)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls().len(), 1);

    let api = fake(FakeApiOptions::default()).await;
    api.put_definition(c.fully_signed().unwrap());
    api.malformed_next(3);
    let n = node(&c.operators[0], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(30)).await,
        Outcome::Completed
    );
}

#[tokio::test]
async fn accepts_the_invitation_automatically() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("auto", 4, 3, 2, &ts(1)).unwrap();
    c.publish(&ObolApi::new(&api.url(), Duration::from_secs(2), RetryPolicy::default()).unwrap())
        .await
        .unwrap();
    // Everyone but us (operator 3) accepted already, through the API.
    let client = ObolApi::new(&api.url(), Duration::from_secs(2), RetryPolicy::default()).unwrap();
    for i in 0..3 {
        c.accept_via_api(&client, i).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("operator-key");
    std::fs::write(
        &key_file,
        defn::secret_key_hex(&c.operators[3].operator_key).as_str(),
    )
    .unwrap();
    let n = node(&c.operators[3], &api.url(), |s| {
        s.operator_private_key_file = Some(key_file.clone());
        s.accept_invitations_from = vec![c.creator_address()];
    });
    assert!(!api.terms_signed(&c.operators[3].address));
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
        Outcome::Completed
    );
    assert!(api.terms_signed(&c.operators[3].address));
    let stored = api.definition(&c.config_hash()).unwrap();
    assert_eq!(stored["operators"][3]["enr"], json!(c.operators[3].enr));
    defn::verify_definition(&stored).unwrap();
    assert_eq!(
        dkg.calls()[0]["operators"][3]["enr"],
        json!(c.operators[3].enr)
    );
    assert!(
        api.requests()
            .iter()
            .any(|r| r.starts_with("PUT /v1/definition/"))
    );
}

#[tokio::test]
async fn without_operator_key_it_waits_and_never_signs() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("manual", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.accepted_by(&c.definition, &[1, 2]).unwrap());
    let n = node(&c.operators[0], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    assert_eq!(
        run_for(&sidecar(&n, dkg.clone()), Duration::from_millis(600)).await,
        Outcome::Cancelled
    );
    assert!(dkg.calls().is_empty());
    assert!(
        api.requests().iter().all(|r| r.starts_with("GET ")),
        "{:?}",
        api.requests()
    );
}

#[tokio::test]
async fn operator_key_for_another_address_is_refused() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("wrong key", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.definition.clone());
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("operator-key");
    std::fs::write(
        &key_file,
        defn::secret_key_hex(&c.operators[1].operator_key).as_str(),
    )
    .unwrap();
    let n = node(&c.operators[0], &api.url(), |s| {
        s.operator_private_key_file = Some(key_file.clone());
        s.target_config_hash = Some(c.config_hash());
    });
    let err = sidecar(&n, FakeDkg::default())
        .run(CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("OPERATOR_ADDRESS"), "{err}");
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn target_config_hash_selects_only_that_definition() {
    let api = fake(FakeApiOptions::default()).await;
    let me = OperatorFixture::random().unwrap();
    let clone = |o: &OperatorFixture| OperatorFixture {
        operator_key: o.operator_key.clone(),
        node_key: o.node_key.clone(),
        address: o.address.clone(),
        enr: o.enr.clone(),
    };
    let mk = |name: &str, t: &str| {
        let mut ops = vec![clone(&me)];
        ops.extend((0..2).map(|_| OperatorFixture::random().unwrap()));
        ClusterFixture::with_operators(name, ops, 2, 1, t).unwrap()
    };
    let newer = mk("newer", &ts(9));
    let target = mk("target", &ts(1));
    api.put_definition(newer.fully_signed().unwrap());
    api.put_definition(target.fully_signed().unwrap());
    let hash = target.config_hash().to_uppercase().replacen("0X", "0x", 1);
    let n = node(&me, &api.url(), |s| s.target_config_hash = Some(hash));
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls()[0]["config_hash"], json!(target.config_hash()));
    assert!(api.requests().iter().all(|r| !r.contains("/operator/")));

    // Without the target, the newest one wins.
    let n = node(&me, &api.url(), |_| {});
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls()[0]["config_hash"], json!(newer.config_hash()));
}

#[tokio::test]
async fn target_config_hash_finds_enr_mode_definitions() {
    let api = fake(FakeApiOptions::default()).await;
    let ops = (0..3).map(|_| OperatorFixture::random().unwrap()).collect();
    let c = ClusterFixture::enr_mode("enr mode", ops, 2, 1, &ts(1)).unwrap();
    let hash = c.config_hash();
    api.put_definition(c.definition.clone());
    let n = node(&c.operators[1], &api.url(), |s| {
        s.target_config_hash = Some(hash.clone())
    });
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls()[0]["config_hash"], json!(hash));
}

#[tokio::test]
async fn existing_lock_exits_at_once_without_network_traffic() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("done", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.fully_signed().unwrap());
    let n = node(&c.operators[0], &api.url(), |_| {});
    std::fs::create_dir_all(&n.data_dir).unwrap();
    std::fs::write(n.data_dir.join("cluster-lock.json"), "{}").unwrap();
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(5)).await,
        Outcome::LockExists
    );
    assert!(api.requests().is_empty());
    assert!(dkg.calls().is_empty());
}

#[tokio::test]
async fn failed_dkg_leaves_nothing_behind_and_is_retried() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("retry", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.fully_signed().unwrap());
    let n = node(&c.operators[0], &api.url(), |_| {});
    std::fs::create_dir_all(&n.data_dir).unwrap();
    std::fs::write(n.data_dir.join("unrelated.txt"), "keep me").unwrap();
    let dkg = FakeDkg {
        fail_first: Arc::new(AtomicUsize::new(2)),
        ..Default::default()
    };
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls().len(), 3);
    assert!(
        dkg.dirty_on_entry.lock().unwrap().is_empty(),
        "a retry saw leftovers"
    );
    assert_outputs(&n);
    assert_eq!(
        std::fs::read_to_string(n.data_dir.join("unrelated.txt")).unwrap(),
        "keep me"
    );
    let lock: Value =
        serde_json::from_slice(&std::fs::read(n.data_dir.join("cluster-lock.json")).unwrap())
            .unwrap();
    assert!(lock.get("partial").is_none());
}

#[tokio::test]
async fn cancellation_during_the_dkg_cleans_up() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("sigterm", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.fully_signed().unwrap());
    let n = node(&c.operators[0], &api.url(), |_| {});
    let dkg = FakeDkg {
        hang: true,
        ..Default::default()
    };
    assert_eq!(
        run_for(&sidecar(&n, dkg.clone()), Duration::from_millis(500)).await,
        Outcome::Cancelled
    );
    assert_eq!(dkg.calls().len(), 1);
    let left: Vec<String> = std::fs::read_dir(&n.data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left, vec!["charon-enr-private-key".to_string()]);
}

/// An operator-provided definition file is the operator's: used as it is,
/// retried after a failed DKG, never removed; an unusable one is moved aside
/// with its content intact, then the API is polled.
#[tokio::test]
async fn existing_definition_file_is_used_or_set_aside_never_removed() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("local", 3, 2, 1, &ts(1)).unwrap();
    // A valid local file: used without asking the API, kept after a failure.
    let n = node(&c.operators[0], &api.url(), |_| {});
    std::fs::create_dir_all(&n.data_dir).unwrap();
    let content = serde_json::to_vec(&c.fully_signed().unwrap()).unwrap();
    std::fs::write(&n.config.output_definition_file, &content).unwrap();
    let dkg = FakeDkg {
        fail_first: Arc::new(AtomicUsize::new(1)),
        ..Default::default()
    };
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(10)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls().len(), 2, "retried with the same file");
    assert!(dkg.dirty_on_entry.lock().unwrap().is_empty());
    assert_eq!(
        std::fs::read(&n.config.output_definition_file).unwrap(),
        content,
        "the operator's file is untouched"
    );
    assert!(api.requests().is_empty());

    // Garbage: moved aside (content kept), then the API is polled.
    api.put_definition(c.fully_signed().unwrap());
    let n = node(&c.operators[1], &api.url(), |_| {});
    std::fs::create_dir_all(&n.data_dir).unwrap();
    std::fs::write(&n.config.output_definition_file, "{not json").unwrap();
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(10)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls()[0]["config_hash"], json!(c.config_hash()));
    let aside: Vec<PathBuf> = std::fs::read_dir(&n.data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("cluster-definition.json.unusable-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), "{not json");
}

#[tokio::test]
async fn enr_file_of_another_key_is_fatal_before_any_request() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("bad enr", 3, 2, 1, &ts(1)).unwrap();
    let n = node(&c.operators[0], &api.url(), |_| {});
    std::fs::write(&n.config.enr_file, &c.operators[1].enr).unwrap();
    let err = sidecar(&n, FakeDkg::default())
        .run(CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ENR MISMATCH"), "{err}");
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn stale_outputs_of_a_crashed_run_are_set_aside() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("stale", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.fully_signed().unwrap());
    let n = node(&c.operators[0], &api.url(), |_| {});
    std::fs::create_dir_all(n.data_dir.join("validator_keys")).unwrap();
    std::fs::write(
        n.data_dir.join("validator_keys/keystore-0.json"),
        "old share",
    )
    .unwrap();
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(10)).await,
        Outcome::Completed
    );
    assert!(dkg.dirty_on_entry.lock().unwrap().is_empty());
    let kept = std::fs::read_dir(&n.data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("stale-dkg-artifacts-")
        })
        .expect("old shares kept");
    assert_eq!(
        std::fs::read_to_string(kept.join("validator_keys/keystore-0.json")).unwrap(),
        "old share"
    );
}

const GOLDEN_LOCK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/vectors/charon__cluster__examples__cluster-lock-003.json"
);

#[tokio::test]
async fn lock_hash_mode_fetches_and_verifies_the_lock() {
    let lock: Value = serde_json::from_slice(&std::fs::read(GOLDEN_LOCK).unwrap()).unwrap();
    let hash = lock["lock_hash"].as_str().unwrap().to_string();
    let c = ClusterFixture::new("unused", 3, 2, 1, &ts(1)).unwrap();

    // Genuine lock, hash given by the chart's lockhash file.
    let api = fake(FakeApiOptions::default()).await;
    api.put_definition(lock["cluster_definition"].clone());
    let client = ObolApi::new(&api.url(), Duration::from_secs(2), RetryPolicy::default()).unwrap();
    client.publish_lock(&lock).await.unwrap();
    let n = node(&c.operators[0], &api.url(), |_| {});
    std::fs::create_dir_all(&n.data_dir).unwrap();
    std::fs::write(n.data_dir.join("lockhash"), format!("{hash}\n")).unwrap();
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(10)).await,
        Outcome::LockFetched
    );
    assert!(dkg.calls().is_empty());
    let written: Value =
        serde_json::from_slice(&std::fs::read(n.data_dir.join("cluster-lock.json")).unwrap())
            .unwrap();
    assert_eq!(written["lock_hash"], lock["lock_hash"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(n.data_dir.join("cluster-lock.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o444);
    }

    // A tampered lock under the same hash is never written.
    let api = fake(FakeApiOptions::default()).await;
    let mut bad = lock.clone();
    bad["cluster_definition"]["name"] = json!("tampered");
    api.put_definition(bad["cluster_definition"].clone());
    let client = ObolApi::new(&api.url(), Duration::from_secs(2), RetryPolicy::default()).unwrap();
    client.publish_lock(&bad).await.unwrap();
    let n = node(&c.operators[0], &api.url(), |s| {
        s.lock_hash = Some(hash.clone())
    });
    assert_eq!(
        run_for(&sidecar(&n, FakeDkg::default()), Duration::from_millis(500)).await,
        Outcome::Cancelled
    );
    assert!(!n.data_dir.join("cluster-lock.json").exists());
    assert!(api.requests().iter().any(|r| r.contains(&hash)));
}

/// An API that never updated `definition_hash` after operators accepted: the
/// content is still authenticated by config hash and signatures, so the node
/// proceeds with the recomputed hash; a random `definition_hash` stays rejected
/// (see `never_uses_a_tampered_definition`).
#[tokio::test]
async fn tolerates_a_definition_hash_not_updated_after_acceptance() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("stale hash", 3, 2, 1, &ts(1)).unwrap();
    let mut def = c.fully_signed().unwrap();
    def["definition_hash"] = c.definition["definition_hash"].clone();
    assert!(defn::verify_definition(&def).is_err());
    api.put_definition(def);
    let n = node(&c.operators[0], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(10)).await,
        Outcome::Completed
    );
    defn::verify_definition(&dkg.calls()[0]).unwrap();
}

// ---- selection, acceptance policy, forged definitions ------------------------

/// Log lines of everything the sidecars under test log (current-thread runtime,
/// so every task logs into this subscriber).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let sub = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        (logs, tracing::subscriber::set_default(sub))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }

    /// Lines at `level` containing every one of `parts`.
    fn count(&self, level: &str, parts: &[&str]) -> usize {
        self.text()
            .lines()
            .filter(|l| l.contains(level) && parts.iter().all(|p| l.contains(p)))
            .count()
    }
}

fn twin(o: &OperatorFixture) -> OperatorFixture {
    OperatorFixture {
        operator_key: o.operator_key.clone(),
        node_key: o.node_key.clone(),
        address: o.address.clone(),
        enr: o.enr.clone(),
    }
}

/// A cluster of (the twins of) `ops`.
fn cluster_of(name: &str, ops: &[OperatorFixture], t: &str) -> ClusterFixture {
    ClusterFixture::with_operators(name, ops.iter().map(twin).collect(), 3, 1, t).unwrap()
}

/// A node holding its operator key (in `keys`), configured by `edit`.
fn keyed_node(
    op: &OperatorFixture,
    api: &reqwest::Url,
    keys: &Path,
    edit: impl FnOnce(&mut Settings),
) -> Node {
    let key_file = keys.join(format!("operator-key-{}", op.address));
    std::fs::write(&key_file, defn::secret_key_hex(&op.operator_key).as_str()).unwrap();
    node(op, api, |s| {
        s.operator_private_key_file = Some(key_file);
        edit(s)
    })
}

/// Runs every node's sidecar concurrently until all complete.
async fn run_all(nodes: &[Node]) -> Vec<FakeDkg> {
    let dkgs: Vec<FakeDkg> = nodes.iter().map(|_| FakeDkg::default()).collect();
    let runs = nodes.iter().zip(&dkgs).map(|(n, d)| async move {
        run_until_done(&sidecar(n, d.clone()), Duration::from_secs(60)).await
    });
    for o in futures::future::join_all(runs).await {
        assert_eq!(o, Outcome::Completed);
    }
    dkgs
}

/// Runs the sidecar until it has asked the API `cycles` times for definitions
/// (listing page 1 or the pinned hash), then stops it.
async fn run_cycles(sc: &Sidecar<FakeDkg>, api: &FakeApi, cycles: usize) -> Outcome {
    let cancel = CancellationToken::new();
    let count = |api: &FakeApi| {
        api.requests()
            .iter()
            .filter(|r| {
                (r.contains("/v1/definition/operator/") && r.contains("page=1&"))
                    || (r.starts_with("GET /v1/definition/0x"))
            })
            .count()
    };
    let start = count(api);
    let stop = async {
        while count(api) < start + cycles {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
    };
    let (outcome, ()) = tokio::join!(sc.run(cancel.clone()), stop);
    outcome.unwrap()
}

fn puts(api: &FakeApi) -> Vec<String> {
    api.requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT "))
        .collect()
}

/// Issue 10: invitations that fail verification (edited after signing, so
/// their config hashes no longer match), first, last, several, on every page
/// and with timestamps equal to the genuine one's, never keep four sidecars
/// from accepting the genuine invitation and completing the DKG; each bad
/// one is reported at most once per node and never signed.
#[tokio::test]
async fn bad_invitations_never_block_the_genuine_one() {
    let layouts: Vec<(&str, Vec<u32>)> = vec![
        ("first", vec![5]),
        ("last", vec![0]),
        ("several", vec![4, 5, 6, 0, 1]),
        ("on every page", vec![7, 6, 5, 4, 2, 1, 0]),
        ("same timestamp", vec![3, 3, 3, 3]),
    ];
    for (what, bad_times) in layouts {
        let (logs, _guard) = Logs::capture();
        let api = fake(FakeApiOptions::default()).await;
        let ops: Vec<OperatorFixture> =
            (0..4).map(|_| OperatorFixture::random().unwrap()).collect();
        let genuine = cluster_of("genuine", &ops, &ts(3));
        let mut creators = vec![genuine.creator_address()];
        let mut bad_hashes = Vec::new();
        for (i, t) in bad_times.iter().enumerate() {
            let c = cluster_of(&format!("bad {i}"), &ops, &ts(*t));
            let mut d = c.definition.clone();
            d["threshold"] = json!(2);
            creators.push(c.creator_address());
            bad_hashes.push(c.config_hash());
            api.put_definition(d);
        }
        genuine
            .publish(
                &ObolApi::new(&api.url(), Duration::from_secs(2), RetryPolicy::default()).unwrap(),
            )
            .await
            .unwrap();
        let keys = tempfile::tempdir().unwrap();
        let nodes: Vec<Node> = ops
            .iter()
            .map(|o| {
                keyed_node(o, &api.url(), keys.path(), |s| {
                    s.accept_invitations_from = creators.clone();
                    s.page_limit = "2".into();
                })
            })
            .collect();
        let dkgs = run_all(&nodes).await;
        for (i, d) in dkgs.iter().enumerate() {
            let calls = d.calls();
            assert_eq!(calls.len(), 1, "{what}: node {i}");
            assert_eq!(
                calls[0]["config_hash"],
                json!(genuine.config_hash()),
                "{what}"
            );
            assert_outputs(&nodes[i]);
        }
        let puts = puts(&api);
        assert_eq!(puts.len(), 4, "{what}: {puts:?}");
        assert!(
            puts.iter().all(|p| p.contains(&genuine.config_hash())),
            "{what}"
        );
        defn::verify_definition(&api.definition(&genuine.config_hash()).unwrap()).unwrap();
        for h in &bad_hashes {
            let n = logs.count("ERROR", &["REJECTED invitation", h]);
            assert!(
                (1..=4).contains(&n),
                "{what}: {h} reported {n} times: {}",
                logs.text()
                    .lines()
                    .filter(|l| l.contains(&h[..10]))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

/// Anyone can publish a definition naming an operator: one from a creator
/// not in ACCEPT_INVITATIONS_FROM is never signed (no T&C, no PUT) and the
/// reason is logged once; with the creator allowed it is accepted.
#[tokio::test]
async fn invitation_from_an_unlisted_creator_is_never_accepted() {
    let (logs, _guard) = Logs::capture();
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("stranger", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.definition.clone());
    let keys = tempfile::tempdir().unwrap();
    let trusted = OperatorFixture::random().unwrap().address;
    let n = keyed_node(&c.operators[0], &api.url(), keys.path(), |s| {
        s.accept_invitations_from = vec![trusted.clone()];
    });
    let dkg = FakeDkg::default();
    assert_eq!(
        run_cycles(&sidecar(&n, dkg.clone()), &api, 5).await,
        Outcome::Cancelled
    );
    assert!(
        api.requests().iter().all(|r| r.starts_with("GET ")),
        "{:?}",
        api.requests()
    );
    assert!(!api.terms_signed(&c.operators[0].address));
    assert!(dkg.calls().is_empty());
    assert_eq!(
        logs.count(
            "WARN",
            &[
                "Not accepting invitation",
                &c.config_hash(),
                "not in ACCEPT_INVITATIONS_FROM"
            ]
        ),
        1,
        "{}",
        logs.text()
    );

    let n = keyed_node(&c.operators[0], &api.url(), keys.path(), |s| {
        s.accept_invitations_from = vec![trusted.clone(), c.creator_address().to_lowercase()];
    });
    let sc = sidecar(&n, FakeDkg::default());
    let cancel = CancellationToken::new();
    let wait = async {
        while puts(&api).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
    };
    let (outcome, ()) = tokio::join!(sc.run(cancel.clone()), wait);
    assert_eq!(outcome.unwrap(), Outcome::Cancelled);
    assert_eq!(
        puts(&api),
        vec![format!("PUT /v1/definition/{}", c.config_hash())]
    );
    let stored = api.definition(&c.config_hash()).unwrap();
    assert_eq!(stored["operators"][0]["enr"], json!(c.operators[0].enr));
}

/// With ACCEPT_INVITATIONS_FROM set, a fully signed definition from another
/// creator is not used for the DKG either.
#[tokio::test]
async fn ready_definition_outside_the_policy_is_not_used() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("unlisted", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.fully_signed().unwrap());
    let other = OperatorFixture::random().unwrap().address;
    let n = node(&c.operators[0], &api.url(), |s| {
        s.accept_invitations_from = vec![other.clone()]
    });
    let dkg = FakeDkg::default();
    assert_eq!(
        run_cycles(&sidecar(&n, dkg.clone()), &api, 4).await,
        Outcome::Cancelled
    );
    assert!(dkg.calls().is_empty());
    assert!(!n.data_dir.join("cluster-definition.json").exists());

    let n = node(&c.operators[0], &api.url(), |s| {
        s.accept_invitations_from = vec![other.clone(), c.creator_address()]
    });
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls()[0]["config_hash"], json!(c.config_hash()));
}

/// Two valid, authorised invitations: every node accepts and runs the same
/// one, the newest; with equal timestamps, the lowest config hash.
#[tokio::test]
async fn every_node_picks_the_same_of_two_valid_invitations() {
    for tie in [false, true] {
        let api = fake(FakeApiOptions::default()).await;
        let ops: Vec<OperatorFixture> =
            (0..4).map(|_| OperatorFixture::random().unwrap()).collect();
        let a = cluster_of("a", &ops, &ts(2));
        let b = cluster_of("b", &ops, &ts(if tie { 2 } else { 5 }));
        let client =
            ObolApi::new(&api.url(), Duration::from_secs(2), RetryPolicy::default()).unwrap();
        a.publish(&client).await.unwrap();
        b.publish(&client).await.unwrap();
        let want = if tie {
            a.config_hash().min(b.config_hash())
        } else {
            b.config_hash()
        };
        let keys = tempfile::tempdir().unwrap();
        let nodes: Vec<Node> = ops
            .iter()
            .map(|o| {
                keyed_node(o, &api.url(), keys.path(), |s| {
                    s.accept_invitations_from = vec![a.creator_address(), b.creator_address()];
                })
            })
            .collect();
        let dkgs = run_all(&nodes).await;
        for d in &dkgs {
            assert_eq!(d.calls()[0]["config_hash"], json!(want), "tie {tie}");
        }
        let puts = puts(&api);
        assert_eq!(puts.len(), 4, "{puts:?}");
        assert!(
            puts.iter().all(|p| p.ends_with(&want)),
            "tie {tie}: {puts:?}"
        );
    }
}

/// Security review B2: verification reads JSON as charon does (keys
/// case-insensitive, the last one wins), so a definition carrying
/// `"config_hash":"0xEVIL"` and then `"Config_Hash":"0x<real>"` verifies as
/// the real one. What is signed comes from that same typed value: the
/// acceptance goes to the real hash and nothing is ever signed for EVIL.
#[tokio::test]
async fn duplicated_key_definition_never_gets_the_other_hash_signed() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("dup keys", 3, 2, 1, &ts(1)).unwrap();
    let evil = format!("0x{}", "ee".repeat(32));
    let mut forged = c.definition.clone();
    forged["config_hash"] = json!(evil);
    forged
        .as_object_mut()
        .unwrap()
        .insert("Config_Hash".into(), json!(c.config_hash()));
    defn::verify_invitation(&forged).unwrap();
    api.put_definition(forged);
    api.accept_terms_for(&c.operators[0].address);
    let keys = tempfile::tempdir().unwrap();
    let n = keyed_node(&c.operators[0], &api.url(), keys.path(), |s| {
        s.accept_invitations_from = vec![c.creator_address()];
    });
    let sc = sidecar(&n, FakeDkg::default());
    let cancel = CancellationToken::new();
    let wait = async {
        while puts(&api).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
    };
    let (outcome, ()) = tokio::join!(sc.run(cancel.clone()), wait);
    assert_eq!(outcome.unwrap(), Outcome::Cancelled);
    let puts = puts(&api);
    assert_eq!(puts[0], format!("PUT /v1/definition/{}", c.config_hash()));
    assert!(
        api.requests().iter().all(|r| !r.contains(&evil[2..])),
        "{:?}",
        api.requests()
    );
}

/// Security review B3: an unsigned ENR-mode definition carries nobody's
/// consent. One served by the API (here by a misbehaving listing) is not
/// used unless pinned with TARGET_CONFIG_HASH; pinned, it is.
#[tokio::test]
async fn unsigned_enr_mode_definition_needs_a_pin() {
    let (logs, _guard) = Logs::capture();
    let api = fake(FakeApiOptions::default()).await;
    let ops = (0..3).map(|_| OperatorFixture::random().unwrap()).collect();
    let c = ClusterFixture::enr_mode("enr mode", ops, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.definition.clone());
    api.list_for_every_operator(c.definition.clone());
    let n = node(&c.operators[1], &api.url(), |_| {});
    let dkg = FakeDkg::default();
    assert_eq!(
        run_cycles(&sidecar(&n, dkg.clone()), &api, 4).await,
        Outcome::Cancelled
    );
    assert!(dkg.calls().is_empty());
    assert_eq!(
        logs.count(
            "WARN",
            &[
                "no operator signed this ENR-mode definition",
                &c.config_hash()
            ]
        ),
        1
    );

    let n = node(&c.operators[1], &api.url(), |s| {
        s.target_config_hash = Some(c.config_hash())
    });
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
        Outcome::Completed
    );
    assert_eq!(dkg.calls()[0]["config_hash"], json!(c.config_hash()));
}

/// A sidecar given an operator key and no policy (a Config built without
/// validation) refuses to start before any request.
#[tokio::test]
async fn operator_key_without_policy_is_refused_before_any_request() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("no policy", 3, 2, 1, &ts(1)).unwrap();
    api.put_definition(c.definition.clone());
    let keys = tempfile::tempdir().unwrap();
    let mut n = keyed_node(&c.operators[0], &api.url(), keys.path(), |s| {
        s.target_config_hash = Some(c.config_hash())
    });
    n.config.target_config_hash = None;
    let err = sidecar(&n, FakeDkg::default())
        .run(CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ACCEPT_INVITATIONS_FROM"), "{err}");
    assert!(api.requests().is_empty());
}

/// Operator 1's contract wallet.
const SAFE: [u8; 20] = [0xc1; 20];

/// The invitation of `c` with operator 1 turned into a Safe (its address,
/// hence the config hash and the creator's signature, change) that already
/// accepted with one owner's signatures, as did operator 2; operator 0 has
/// not. Also the (contract, digest, signature) triples the Safe accepts.
fn with_safe_operator(c: &ClusterFixture) -> (Value, Vec<Triple>) {
    use charon_dkg_sidecar::lock::{eip712, k1};
    let mut d = defn::parse_definition(&c.definition).unwrap();
    d.operators[1].address = k1::checksum_address(&SAFE);
    for i in [1, 2] {
        d.operators[i].enr = c.operators[i].enr.clone();
    }
    d.config_hash = d.config_hash().unwrap().to_vec();
    let chain = defn::chain_id(&defn::fork_version_hex(&d)).unwrap();
    let op_digest = eip712::operator_config_digest(d.version, &d.config_hash, chain);
    let sign = |k: &defn::SecretKey, digest: &[u8; 32]| k1::sign65(k, digest).unwrap().to_vec();
    d.creator.config_signature = sign(
        &c.creator,
        &eip712::creator_config_digest(&d.config_hash, chain),
    );
    let op2 = &c.operators[2].operator_key;
    d.operators[2].config_signature = sign(op2, &op_digest);
    d.operators[2].enr_signature = sign(op2, &eip712::enr_digest(&d.operators[2].enr, chain));
    // A v1.10 definition holds one 65-byte signature: the Safe owner's.
    let owner = defn::parse_secret_key(&hex::encode([0x21u8; 32])).unwrap();
    let enr_digest = eip712::enr_digest(&d.operators[1].enr, chain);
    let config = sign(&owner, &op_digest);
    let enr = sign(&owner, &enr_digest);
    d.operators[1].config_signature = config.clone();
    d.operators[1].enr_signature = enr.clone();
    d.definition_hash = d.definition_hash().unwrap().to_vec();
    let value = serde_json::from_slice(&defn::definition_bytes(&d).unwrap()).unwrap();
    (
        value,
        vec![(SAFE, op_digest, config), (SAFE, enr_digest, enr)],
    )
}

#[tokio::test]
async fn a_safe_operator_is_checked_through_the_execution_client() {
    let api = fake(FakeApiOptions::default()).await;
    let c = ClusterFixture::new("safe", 3, 2, 1, &ts(1)).unwrap();
    let (def, triples) = with_safe_operator(&c);
    api.put_definition(def);
    let keys = tempfile::tempdir().unwrap();
    let policy = |s: &mut Settings| s.accept_invitations_from = vec![c.creator_address()];

    // Without an endpoint the invitation is refused: nothing accepted, no DKG.
    let n = keyed_node(&c.operators[0], &api.url(), keys.path(), policy);
    let dkg = FakeDkg::default();
    assert_eq!(
        run_for(&sidecar(&n, dkg.clone()), Duration::from_millis(800)).await,
        Outcome::Cancelled
    );
    assert!(dkg.calls().is_empty());
    let accepted = |api: &FakeApi| {
        api.requests()
            .iter()
            .any(|r| r.starts_with("PUT /v1/definition/"))
    };
    assert!(!accepted(&api));

    // An endpoint that gives no verdict: retried, still nothing accepted.
    let down = ClosingServer::start();
    let n = keyed_node(&c.operators[0], &api.url(), keys.path(), |s| {
        policy(s);
        s.dkg.execution_client_rpc_endpoint = Some(down.url.clone());
    });
    let dkg = FakeDkg::default();
    assert_eq!(
        run_for(&sidecar(&n, dkg.clone()), Duration::from_millis(800)).await,
        Outcome::Cancelled
    );
    assert!(dkg.calls().is_empty());
    assert!(!accepted(&api));
    drop(down);

    // With one, the Safe's signatures are accepted by its contract: operator 0
    // accepts, the definition is ready and the DKG runs with it.
    let el = FakeEl::start();
    for (a, h, s) in &triples {
        el.accept(*a, *h, s);
    }
    let n = keyed_node(&c.operators[0], &api.url(), keys.path(), |s| {
        policy(s);
        s.dkg.execution_client_rpc_endpoint = Some(el.url.clone());
    });
    let dkg = FakeDkg::default();
    assert_eq!(
        run_until_done(&sidecar(&n, dkg.clone()), Duration::from_secs(20)).await,
        Outcome::Completed
    );
    assert!(accepted(&api));
    assert_eq!(dkg.calls().len(), 1);
    let used = defn::parse_definition(&dkg.calls()[0]).unwrap();
    assert_eq!(used.operators[1].config_signature, triples[0].2);
    assert!(!used.operators[0].config_signature.is_empty());
    // Asked at least for the invitation and again for the ready definition.
    assert!(el.requests().len() >= 4, "{:?}", el.requests());
}
