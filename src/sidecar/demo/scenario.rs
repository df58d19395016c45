//! The local demo: a fake Obol API, a relay and N sidecars on one machine, going
//! through invitation, acceptance, DKG and verification exactly as pods would.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Url;
use tokio_util::sync::CancellationToken;

use super::board::StepBoard;
use super::fake_api::{FakeApi, FakeApiOptions};
use super::fixture::ClusterFixture;
use crate::dkg::ceremony::Progress;
use crate::sidecar::api::{ObolApi, RetryPolicy};
use crate::sidecar::artifacts::{ENR_KEY_FILE, write_atomic};
use crate::sidecar::config::{Config, DkgFlags, Settings};
use crate::sidecar::defn;
use crate::sidecar::lifecycle::{Outcome, Sidecar};
use crate::sidecar::runner::{DkgRunError, DkgRunner};

/// What the demo builds.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Number of operators (nodes).
    pub operators: usize,
    /// Signature threshold.
    pub threshold: u64,
    /// Number of validators.
    pub validators: u64,
    /// Where every node's data directory is created.
    pub output_dir: PathBuf,
    /// Relay URLs or multiaddrs the nodes use (from the embedded relay).
    pub relays: Vec<String>,
    /// First TCP port; node `i` listens on `base_port + i`.
    pub base_port: u16,
    /// Give up after this long.
    pub timeout: Duration,
    /// Print the story (set-up and step lines) as JSON objects, one a line.
    pub json: bool,
}

/// Prints one line of the demo's story: plain text, or `{"msg": ...}` with
/// `json` so that a machine reading the output sees only JSON.
pub fn say(json: bool, msg: &str) {
    if json {
        println!("{}", serde_json::json!({ "msg": msg }));
    } else {
        println!("{msg}");
    }
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Setting up files or the fake API failed.
    #[error("demo set-up failed: {0}")]
    Setup(String),
    /// A node's sidecar failed.
    #[error("node {node}: {reason}")]
    Node {
        /// Node index (0-based).
        node: usize,
        /// What happened.
        reason: String,
    },
    /// The ceremony did not finish in time.
    #[error("the demo did not finish within {0:?}")]
    Timeout(Duration),
    /// A produced lock does not verify or the nodes disagree.
    #[error("verification failed: {0}")]
    Verify(String),
}

/// One node's result.
#[derive(Debug, Clone)]
pub struct NodeReport {
    /// The node's data directory.
    pub data_dir: PathBuf,
    /// What `verify --data-dir` says about it.
    pub verified: String,
    /// The operator address.
    pub operator: String,
    /// `lock_hash` of its lock.
    pub lock_hash: String,
}

/// The demo's outcome.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The config hash of the cluster.
    pub config_hash: String,
    /// The fake API's base URL (stopped when the demo returns).
    pub api_url: Url,
    /// Per-node results.
    pub nodes: Vec<NodeReport>,
}

/// Stops every sidecar as soon as one DKG attempt fails, so the demo reports
/// the failure instead of retrying forever.
struct FailFast<R> {
    inner: R,
    node: usize,
    abort: CancellationToken,
    failure: Arc<Mutex<Option<(usize, String)>>>,
    done: Arc<Mutex<Option<Instant>>>,
}

impl<R: DkgRunner> DkgRunner for FailFast<R> {
    async fn run(
        &self,
        definition_file: &Path,
        data_dir: &Path,
        cancel: CancellationToken,
    ) -> Result<(), DkgRunError> {
        let r = self.inner.run(definition_file, data_dir, cancel).await;
        if r.is_ok()
            && let Ok(mut d) = self.done.lock()
        {
            *d = Some(Instant::now());
        }
        if let Err(e) = &r {
            if let Ok(mut f) = self.failure.lock() {
                f.get_or_insert((self.node, e.message.clone()));
            }
            self.abort.cancel();
        }
        r
    }

    fn progress(&self) -> Option<Progress> {
        self.inner.progress()
    }
}

/// The configuration node `i` runs with: its own data directory and keys,
/// the fake API, automatic acceptance with its operator key of invitations
/// from `creator` only (the policy every operator key needs).
fn node_config(
    opts: &DemoOptions,
    i: usize,
    api: &Url,
    dir: &Path,
    tcp_port: u16,
    creator: &str,
) -> Result<Config, DemoError> {
    let settings = Settings {
        // Filled in by the caller; validation needs a well-formed placeholder.
        operator_address: Some(format!("0x{}", "00".repeat(20))),
        enr_file_path: dir.join("enr"),
        output_definition_file: dir.join("cluster-definition.json"),
        api_endpoint: api.to_string(),
        charon_node_id_dir: dir.to_path_buf(),
        charon_private_key_file: dir.join(ENR_KEY_FILE),
        initial_retry_interval_seconds: "0.5".into(),
        max_retry_interval_seconds: "2".into(),
        backoff_factor: "2".into(),
        page_limit: "10".into(),
        log_level: "info".into(),
        target_config_hash: None,
        lock_hash: None,
        operator_private_key_file: Some(dir.join("operator-private-key")),
        accept_invitations_from: vec![creator.to_string()],
        chain_id: None,
        api_timeout_seconds: "10".into(),
        dkg: DkgFlags {
            p2p_relays: opts.relays.clone(),
            p2p_tcp_address: vec![format!("127.0.0.1:{tcp_port}")],
            timeout: "2m".into(),
            publish: "true".into(),
            publish_timeout: "1m".into(),
            shutdown_delay: "1s".into(),
            nickname: Some(format!("demo-node-{i}")),
            ..Default::default()
        },
    };
    settings
        .validate()
        .map_err(|e| DemoError::Setup(format!("node {i}: {e}")))
}

/// Runs the demo. `make_runner(i, config)` creates node `i`'s DKG runner from
/// its validated configuration (relays, TCP address, timeouts in `config.dkg`).
pub async fn run_demo<R, F>(opts: &DemoOptions, make_runner: F) -> Result<DemoReport, DemoError>
where
    R: DkgRunner + 'static,
    F: Fn(usize, &Config) -> R,
{
    let setup = |e: &dyn std::fmt::Display| DemoError::Setup(e.to_string());
    if opts.operators < 2 || opts.threshold < 1 || opts.threshold > opts.operators as u64 {
        return Err(DemoError::Setup(format!(
            "{} operators with threshold {} is not a valid cluster",
            opts.operators, opts.threshold
        )));
    }
    for i in 0..opts.operators {
        let port = opts.base_port.saturating_add(i as u16);
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Err(DemoError::Setup(format!(
                "node {i} cannot listen on 127.0.0.1:{port} ({e}): pass --base-port with {} free consecutive ports",
                opts.operators
            )));
        }
    }
    let api = FakeApi::start(FakeApiOptions::default())
        .await
        .map_err(|e| setup(&e))?;
    let url = api.url();
    let json = opts.json;
    say(json, &format!("• Fake Obol API listening on {url}"));

    let timestamp = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let cluster = ClusterFixture::new(
        "charon-dkg-sidecar demo",
        opts.operators,
        opts.threshold,
        opts.validators,
        &timestamp,
    )
    .map_err(|e| setup(&e))?;
    let client = ObolApi::new(&url, Duration::from_secs(10), RetryPolicy::default())
        .map_err(|e| setup(&e))?;
    cluster.publish(&client).await.map_err(|e| setup(&e))?;
    say(
        json,
        &format!(
            "• Creator published cluster {} ({} operators, threshold {}, {} validators)",
            cluster.config_hash(),
            opts.operators,
            opts.threshold,
            opts.validators
        ),
    );

    let abort = CancellationToken::new();
    let failure = Arc::new(Mutex::new(None));
    let mut tasks = Vec::new();
    let mut progress = Vec::new();
    let mut done = Vec::new();
    for (i, op) in cluster.operators.iter().enumerate() {
        let dir = opts.output_dir.join(format!("node{i}"));
        std::fs::create_dir_all(&dir).map_err(|e| setup(&e))?;
        let key = defn::secret_key_hex(&op.node_key);
        write_atomic(&dir.join(ENR_KEY_FILE), key.as_bytes(), 0o600).map_err(|e| setup(&e))?;
        write_atomic(&dir.join("enr"), op.enr.as_bytes(), 0o644).map_err(|e| setup(&e))?;
        let okey = defn::secret_key_hex(&op.operator_key);
        write_atomic(&dir.join("operator-private-key"), okey.as_bytes(), 0o600)
            .map_err(|e| setup(&e))?;
        let port = opts.base_port.saturating_add(i as u16);
        let mut config = node_config(opts, i, &url, &dir, port, &cluster.creator_address())?;
        config.operator_address = op.address.clone();
        let runner = FailFast {
            inner: make_runner(i, &config),
            node: i,
            abort: abort.clone(),
            failure: failure.clone(),
            done: Arc::default(),
        };
        progress.push(runner.progress());
        done.push(runner.done.clone());
        let sidecar = Sidecar::new(config, runner).map_err(|e| setup(&e))?;
        let enr: String = op.enr.chars().take(24).collect();
        say(
            json,
            &format!("• node{i}: operator {} ENR {enr}…", op.address),
        );
        let cancel = abort.clone();
        tasks.push(tokio::spawn(async move { sidecar.run(cancel).await }));
    }
    say(
        json,
        "• Sidecars started: each accepts its invitation, waits for the others, runs the DKG",
    );

    let mut board = StepBoard::new(json, progress, done);
    let all = futures::future::join_all(tasks);
    tokio::pin!(all);
    let deadline = tokio::time::sleep(opts.timeout);
    tokio::pin!(deadline);
    let results = loop {
        tokio::select! {
            r = &mut all => break Some(r),
            () = &mut deadline => break None,
            // Only drives the step lines; the ceremony does not wait on it.
            () = tokio::time::sleep(Duration::from_millis(20)) => board.tick(),
        }
    };
    board.finish();
    let Some(results) = results else {
        abort.cancel();
        return Err(DemoError::Timeout(opts.timeout));
    };
    if let Some((node, reason)) = failure.lock().ok().and_then(|f| f.clone()) {
        return Err(DemoError::Node {
            node,
            reason: format!("DKG failed: {reason}"),
        });
    }
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(Ok(Outcome::Completed | Outcome::LockExists | Outcome::LockFetched)) => {}
            Ok(Ok(Outcome::Cancelled)) => {
                return Err(DemoError::Node {
                    node: i,
                    reason: "stopped before completing".into(),
                });
            }
            Ok(Err(e)) => {
                return Err(DemoError::Node {
                    node: i,
                    reason: e.to_string(),
                });
            }
            Err(e) => {
                return Err(DemoError::Node {
                    node: i,
                    reason: format!("task failed: {e}"),
                });
            }
        }
    }

    // The same checks as `verify --data-dir` on every node.
    let mut nodes = Vec::new();
    for (i, op) in cluster.operators.iter().enumerate() {
        let dir = opts.output_dir.join(format!("node{i}"));
        let r = crate::lock::datadir::verify_data_dir(&dir, &crate::lock::VerifyOptions::default())
            .map_err(|e| DemoError::Verify(format!("node {i}: {e}")))?;
        let verified = format!(
            "node {} of {}, {} keystores match its shares, {} deposit files match the lock",
            r.node_index, r.operators, r.keystores, r.deposit_files
        );
        say(json, &format!("verify node{i}: accepted ({verified})"));
        nodes.push(NodeReport {
            data_dir: dir,
            verified,
            operator: op.address.clone(),
            lock_hash: format!("0x{}", hex::encode(&r.lock_hash)),
        });
    }
    if nodes.windows(2).any(|w| w[0].lock_hash != w[1].lock_hash) {
        return Err(DemoError::Verify(
            "the nodes wrote different cluster locks".into(),
        ));
    }
    api.shutdown().await;
    Ok(DemoReport {
        config_hash: cluster.config_hash(),
        api_url: url,
        nodes,
    })
}
