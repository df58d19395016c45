//! The sidecar's life: an existing lock ends it at once; otherwise load the node
//! identity, install the key, then poll the Obol API until a verified, fully
//! signed definition for this node exists, accepting the invitation on the way
//! when the operator key is available, and run the embedded DKG. A failed
//! attempt leaves nothing behind and is retried; SIGTERM stops cleanly.

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::accept::{OperatorSigner, accept_invitation};
use super::api::{ApiError, ObolApi, RetryPolicy};
use super::artifacts::{
    self, LOCK_FILE, VALIDATOR_KEYS_DIR, lock_path, quarantine, remove_new_entries, snapshot,
    stale_outputs, write_atomic,
};
use super::backoff::Backoff;
use super::config::Config;
use super::defn;
use super::identity::{IdentityError, NodeIdentity};
use super::select::{Me, Status, classify, config_hash, describe, newest_first, text};

/// Why a DKG attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DkgRunError(pub String);

/// The embedded DKG ceremony, as the sidecar drives it.
///
/// `run` reads the definition at `definition_file`, uses the node key at
/// `<data_dir>/charon-enr-private-key`, and on success has written
/// `cluster-lock.json`, `validator_keys/` and the deposit data into `data_dir`.
/// It must return promptly once `cancel` fires. Whatever it leaves in
/// `data_dir` after an error is removed by the sidecar.
pub trait DkgRunner: Send + Sync {
    /// Runs one ceremony.
    fn run(
        &self,
        definition_file: &Path,
        data_dir: &Path,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<(), DkgRunError>> + Send;
}

/// How the sidecar finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `cluster-lock.json` already existed; nothing was done.
    LockExists,
    /// The DKG ran and wrote the lock.
    Completed,
    /// The lock was fetched from the Obol API by lock hash (no DKG).
    LockFetched,
    /// Stopped by a signal before completion.
    Cancelled,
}

/// A failure that ends the sidecar (everything else is retried).
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// Node or operator keys unusable or inconsistent.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The API client could not be created.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A file operation that must succeed failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SidecarError {
    let path = path.to_path_buf();
    move |source| SidecarError::Io { what, path, source }
}

enum Attempt {
    Done,
    Failed,
    Cancelled,
}

/// What one polling cycle found.
struct Cycle {
    ready: Option<Value>,
    fingerprint: u64,
    progressed: bool,
}

/// The sidecar: configuration, API client and DKG runner.
pub struct Sidecar<R> {
    config: Config,
    api: ObolApi,
    runner: R,
}

impl<R: DkgRunner> Sidecar<R> {
    /// A sidecar with the default request retry policy.
    pub fn new(config: Config, runner: R) -> Result<Self, SidecarError> {
        let api = ObolApi::new(
            &config.api_endpoint,
            config.api_timeout,
            RetryPolicy::default(),
        )?;
        Ok(Sidecar {
            config,
            api,
            runner,
        })
    }

    /// A sidecar with a given API client (tests tune its retry policy).
    pub fn with_api(config: Config, api: ObolApi, runner: R) -> Self {
        Sidecar {
            config,
            api,
            runner,
        }
    }

    /// Runs until the lock exists, a fatal error, or `cancel`.
    pub async fn run(&self, cancel: CancellationToken) -> Result<Outcome, SidecarError> {
        let cfg = &self.config;
        let lock = lock_path(&cfg.data_dir);
        if lock.exists() {
            self.report_existing_lock(&lock);
            return Ok(Outcome::LockExists);
        }
        if let Some(hash) = self.requested_lock_hash()? {
            return self.fetch_lock(&hash, &lock, &cancel).await;
        }
        let id = NodeIdentity::load(&cfg.enr_private_key_file, &cfg.enr_file)?;
        tracing::info!("Pod ENR loaded: {}", id.enr);
        let signer = match &cfg.operator_private_key_file {
            Some(p) => {
                let s = OperatorSigner::load(p, &cfg.operator_address)?;
                tracing::info!(
                    "Operator key loaded for {}: invitations will be accepted automatically",
                    s.address()
                );
                Some(s)
            }
            None => None,
        };
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(io_err("cannot create the data directory", &cfg.data_dir))?;
        id.install(&cfg.data_dir)?;
        let stale = stale_outputs(&cfg.data_dir)
            .map_err(io_err("cannot list the data directory", &cfg.data_dir))?;
        if !stale.is_empty() {
            let moved = quarantine(&cfg.data_dir, &stale).map_err(io_err(
                "cannot set aside stale DKG outputs in",
                &cfg.data_dir,
            ))?;
            tracing::warn!(
                "Found outputs of an unfinished earlier DKG without a {LOCK_FILE}; moved them to {} (kept for recovery, delete when no longer needed)",
                moved.display()
            );
        }
        let me = Me {
            operator_address: cfg.operator_address.clone(),
            enr: id.enr.clone(),
            enr_pubkey: id.public_key,
        };

        if cfg.output_definition_file.exists() {
            match self.local_definition(&me) {
                Ok(def) => {
                    tracing::info!(
                        "Cluster definition already exists at {}. Proceeding to DKG...",
                        cfg.output_definition_file.display()
                    );
                    match self.attempt(&def, false, &cancel).await? {
                        Attempt::Done => return Ok(Outcome::Completed),
                        Attempt::Cancelled => return Ok(Outcome::Cancelled),
                        Attempt::Failed => {}
                    }
                }
                Err(reason) => {
                    tracing::warn!(
                        "Ignoring the existing definition file {}: {reason}; removing it and polling the Obol API",
                        cfg.output_definition_file.display()
                    );
                    artifacts::remove_path(&cfg.output_definition_file)
                        .map_err(io_err("cannot remove", &cfg.output_definition_file))?;
                }
            }
        }

        let mut backoff = Backoff::new(cfg.backoff);
        let mut last_fingerprint = None;
        loop {
            if cancel.is_cancelled() {
                return Ok(Outcome::Cancelled);
            }
            tracing::info!(
                "Starting new polling cycle... (current delay before next cycle: {:.0}s)",
                backoff.current().as_secs_f64()
            );
            let cycle = tokio::select! {
                c = self.poll(&me, signer.as_ref()) => c,
                _ = cancel.cancelled() => return Ok(Outcome::Cancelled),
            };
            match cycle {
                Ok(c) => {
                    if last_fingerprint.is_some_and(|f| f != c.fingerprint) || c.progressed {
                        tracing::debug!("Something changed on the Obol API; polling faster again");
                        backoff.reset();
                    }
                    last_fingerprint = Some(c.fingerprint);
                    if let Some(def) = c.ready {
                        match self.attempt(&def, true, &cancel).await? {
                            Attempt::Done => return Ok(Outcome::Completed),
                            Attempt::Cancelled => return Ok(Outcome::Cancelled),
                            // Peers restart together after a failed ceremony: retry promptly.
                            Attempt::Failed => backoff.reset(),
                        }
                    }
                }
                Err(e) => tracing::warn!("Polling the Obol API failed: {e}"),
            }
            let delay = backoff.next_delay();
            tracing::info!(
                "Polling cycle complete. Retrying in {:.1} seconds...",
                delay.as_secs_f64()
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => return Ok(Outcome::Cancelled),
            }
        }
    }

    /// `LOCK_HASH`, else the content of `<data-dir>/lockhash` (the dv-pod chart's
    /// `charon.lockHash` feature), if any.
    fn requested_lock_hash(&self) -> Result<Option<String>, SidecarError> {
        if let Some(h) = &self.config.lock_hash {
            return Ok(Some(h.clone()));
        }
        let file = self.config.data_dir.join("lockhash");
        match std::fs::read_to_string(&file) {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => super::config::parse_hash("lockhash file", &text)
                .map(Some)
                .map_err(|e| SidecarError::Io {
                    what: "unusable lock hash in",
                    path: file,
                    source: std::io::Error::other(e.0),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("cannot read", &file)(e)),
        }
    }

    /// Fetches the lock `hash` from the API until it exists and verifies, then
    /// writes it read-only; a lock that fails verification is never written.
    async fn fetch_lock(
        &self,
        hash: &str,
        target: &Path,
        cancel: &CancellationToken,
    ) -> Result<Outcome, SidecarError> {
        tracing::info!("Fetching cluster lock {hash} from the Obol API instead of running a DKG");
        let mut backoff = Backoff::new(self.config.backoff);
        loop {
            let got = tokio::select! {
                r = self.api.lock(hash) => r,
                _ = cancel.cancelled() => return Ok(Outcome::Cancelled),
            };
            match got {
                Ok(Some(lock)) => match defn::verify_lock(&lock, hash) {
                    Ok(bytes) => {
                        std::fs::create_dir_all(&self.config.data_dir)
                            .map_err(io_err("cannot create", &self.config.data_dir))?;
                        write_atomic(target, &bytes, 0o444)
                            .map_err(io_err("cannot write", target))?;
                        tracing::info!(
                            "Cluster lock {hash} verified and written to {}",
                            target.display()
                        );
                        return Ok(Outcome::LockFetched);
                    }
                    Err(e) => tracing::error!(
                        "REJECTED lock {hash} served by the Obol API: {e}; it will not be written"
                    ),
                },
                Ok(None) => tracing::info!("The Obol API has no lock {hash} yet"),
                Err(e) => tracing::warn!("Fetching lock {hash} failed: {e}"),
            }
            let delay = backoff.next_delay();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => return Ok(Outcome::Cancelled),
            }
        }
    }

    /// Logs what is known about an existing lock; never fails (charon decides).
    fn report_existing_lock(&self, lock: &Path) {
        tracing::info!(
            "Cluster lock file {} already exists. Charon should start directly.",
            lock.display()
        );
        let parsed = std::fs::read(lock)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let Some(parsed) = parsed else {
            tracing::warn!(
                "{} is not readable JSON; charon will refuse it. Remove it to run the DKG again.",
                lock.display()
            );
            return;
        };
        if !self.config.data_dir.join(VALIDATOR_KEYS_DIR).is_dir() {
            tracing::warn!(
                "{} exists but {} does not; the validator client needs keys from elsewhere",
                lock.display(),
                self.config.data_dir.join(VALIDATOR_KEYS_DIR).display()
            );
        }
        if let Ok(key) = super::identity::read_secret_key(
            &self.config.enr_private_key_file,
            "ENR private key file",
        ) {
            let pk = defn::public_key(&key);
            let ours = parsed
                .get("cluster_definition")
                .and_then(|d| d.get("operators"))
                .and_then(Value::as_array)
                .is_some_and(|ops| {
                    ops.iter()
                        .any(|o| defn::enr_public_key(text(o, "enr")).is_ok_and(|k| k == pk))
                });
            if !ours {
                tracing::warn!(
                    "{} does not list this node's ENR; charon will not be able to join that cluster",
                    lock.display()
                );
            }
        }
    }

    /// Checks a definition file found on disk at start-up.
    fn local_definition(&self, me: &Me) -> Result<Value, String> {
        let bytes = std::fs::read(&self.config.output_definition_file)
            .map_err(|e| format!("cannot read it ({e})"))?;
        let def: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("not valid JSON ({e})"))?;
        if let Some(t) = &self.config.target_config_hash
            && config_hash(&def).as_deref() != Some(t.as_str())
        {
            return Err(format!("its config hash is not TARGET_CONFIG_HASH {t}"));
        }
        match classify(&def, me) {
            Status::Ready => {}
            other => return Err(format!("not ready for this node ({other:?})")),
        }
        defn::verified_for_dkg(&def).map_err(|e| format!("fails verification: {e}"))
    }

    /// One polling cycle.
    async fn poll(&self, me: &Me, signer: Option<&OperatorSigner>) -> Result<Cycle, ApiError> {
        let cfg = &self.config;
        let op = &cfg.operator_address;
        let mut defs = match &cfg.target_config_hash {
            Some(h) => match self.api.definition(h).await? {
                Some(d) => vec![d],
                None => {
                    tracing::info!(
                        "No invite found: the Obol API has no definition {h} (TARGET_CONFIG_HASH) yet"
                    );
                    vec![]
                }
            },
            None => {
                let d = self.api.operator_definitions(op, cfg.page_limit).await?;
                if d.is_empty() {
                    tracing::info!("No invite found for operator {op}");
                } else {
                    tracing::info!("Found {} cluster definition(s) for operator {op}", d.len());
                }
                d
            }
        };
        newest_first(&mut defs);
        for (i, d) in defs.iter().enumerate() {
            tracing::debug!("  {}. {}", i + 1, describe(d));
        }

        let mut seen: Vec<(String, String)> = Vec::new();
        let mut ready: Option<Value> = None;
        let mut invitation: Option<&Value> = None;
        for def in &defs {
            let hash = config_hash(def).unwrap_or_default();
            if let Some(t) = &cfg.target_config_hash
                && &hash != t
            {
                tracing::warn!(
                    "Obol API returned definition {hash} when asked for {t}; ignoring it"
                );
                continue;
            }
            if let Some(want) = cfg.chain_id {
                match defn::chain_id(text(def, "fork_version")) {
                    Ok(c) if c == want => {}
                    _ => {
                        tracing::info!(
                            "Ignoring definition {hash}: fork_version {} is not chain {want} (CHAIN_ID)",
                            text(def, "fork_version")
                        );
                        continue;
                    }
                }
            }
            let status = classify(def, me);
            seen.push((hash.clone(), format!("{status:?}")));
            match status {
                Status::Ready => {
                    if ready.is_some() {
                        tracing::info!("Also fully signed, but older: {}", describe(def));
                        continue;
                    }
                    match defn::verified_for_dkg(def) {
                        Ok(checked) => {
                            let n = def
                                .get("operators")
                                .and_then(Value::as_array)
                                .map_or(0, Vec::len);
                            tracing::info!(
                                "All {n} operators have signed {}. Definition ready for DKG!",
                                describe(def)
                            );
                            ready = Some(checked);
                        }
                        Err(e) => tracing::error!(
                            "REJECTED definition {hash}: it fails verification ({e}); it will never be used"
                        ),
                    }
                }
                Status::WaitingForOthers { signed, total } => tracing::info!(
                    "Waiting for other operators on {}: {signed} of {total} have signed",
                    describe(def)
                ),
                Status::NeedsOurAcceptance => {
                    if invitation.is_none() {
                        invitation = Some(def);
                    }
                }
                Status::EnrMismatch { found } => tracing::warn!(
                    "ENR MISMATCH: operator {op} accepted {} with ENR {found}, but this node's ENR is {}; ignoring it",
                    describe(def),
                    me.enr
                ),
                Status::NotOurs => {
                    if cfg.target_config_hash.is_some() {
                        tracing::error!(
                            "ENR MISMATCH: definition {hash} (TARGET_CONFIG_HASH) lists neither operator {op} nor this node's ENR {}",
                            me.enr
                        );
                    } else {
                        tracing::debug!("Definition {hash} is not for this operator");
                    }
                }
                Status::Malformed(reason) => {
                    tracing::warn!("Ignoring definition {hash}: {reason}")
                }
            }
        }

        let mut progressed = false;
        if ready.is_none() {
            if let Some(inv) = invitation {
                match signer {
                    Some(s) => {
                        if let Some(updated) = self.accept(s, me, inv).await {
                            progressed = true;
                            if classify(&updated, me) == Status::Ready
                                && let Ok(checked) = defn::verified_for_dkg(&updated)
                            {
                                tracing::info!(
                                    "Every operator has now signed {}. Definition ready for DKG!",
                                    describe(&checked)
                                );
                                ready = Some(checked);
                            }
                        }
                    }
                    None => tracing::info!(
                        "Operator {op} is invited to {} but has not accepted yet. Accept at {} with ENR {}, or set OPERATOR_PRIVATE_KEY_FILE to accept automatically.",
                        describe(inv),
                        launchpad_link(inv),
                        me.enr
                    ),
                }
            }
        } else if cfg.target_config_hash.is_none() {
            // The listing may be stale or abridged: use the definition served by hash.
            if let Some(r) = &ready {
                let hash = config_hash(r).unwrap_or_default();
                match self.api.definition(&hash).await {
                    Ok(Some(fresh)) if classify(&fresh, me) == Status::Ready => {
                        if let Ok(checked) = defn::verified_for_dkg(&fresh) {
                            ready = Some(checked);
                        }
                    }
                    Ok(_) => tracing::debug!("Using the listed copy of {hash}"),
                    Err(e) => tracing::debug!("Using the listed copy of {hash}: {e}"),
                }
            }
        }

        let mut h = DefaultHasher::new();
        seen.sort();
        seen.hash(&mut h);
        Ok(Cycle {
            ready,
            fingerprint: h.finish(),
            progressed,
        })
    }

    /// Accepts `inv` after checking it is genuine; `None` when it failed (logged).
    async fn accept(&self, s: &OperatorSigner, me: &Me, inv: &Value) -> Option<Value> {
        let hash = config_hash(inv).unwrap_or_default();
        if let Err(e) = defn::verify_invitation(inv) {
            tracing::error!(
                "REJECTED invitation {hash}: it fails verification ({e}); not accepting it"
            );
            return None;
        }
        tracing::info!(
            "Accepting invitation {} as operator {} with ENR {}",
            describe(inv),
            s.address(),
            me.enr
        );
        match accept_invitation(&self.api, s, inv, &me.enr).await {
            Ok(updated) => {
                tracing::info!("Accepted invitation {hash}");
                Some(updated)
            }
            Err(e) => {
                tracing::warn!("Could not accept invitation {hash}: {e}");
                None
            }
        }
    }

    /// One DKG attempt; removes everything it created when it fails.
    async fn attempt(
        &self,
        def: &Value,
        write_definition: bool,
        cancel: &CancellationToken,
    ) -> Result<Attempt, SidecarError> {
        let cfg = &self.config;
        let file = &cfg.output_definition_file;
        let before = snapshot(&cfg.data_dir)
            .map_err(io_err("cannot list the data directory", &cfg.data_dir))?;
        if write_definition {
            let mut bytes = serde_json::to_vec_pretty(def).map_err(|e| SidecarError::Io {
                what: "cannot encode the definition for",
                path: file.clone(),
                source: std::io::Error::other(e),
            })?;
            bytes.push(b'\n');
            write_atomic(file, &bytes, 0o644).map_err(io_err("cannot write", file))?;
            tracing::info!(
                "Fully signed cluster definition saved to {}.",
                file.display()
            );
        }
        tracing::info!("Proceeding to DKG process...");
        let result = self
            .runner
            .run(file, &cfg.data_dir, cancel.child_token())
            .await;
        let lock = lock_path(&cfg.data_dir);
        match result {
            Ok(()) if lock.is_file() => {
                tracing::info!("DKG process completed successfully. DKG orchestration complete.");
                return Ok(Attempt::Done);
            }
            Ok(()) => tracing::error!("The DKG finished without writing {}", lock.display()),
            Err(e) => tracing::error!("DKG process failed: {e}"),
        }
        let mut removed = remove_new_entries(&cfg.data_dir, &before).map_err(io_err(
            "cannot clean up the failed DKG attempt in",
            &cfg.data_dir,
        ))?;
        if file.exists() {
            artifacts::remove_path(file).map_err(io_err("cannot remove", file))?;
            if !removed.contains(file) {
                removed.push(file.clone());
            }
        }
        let list: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
        tracing::warn!(
            "Removed the artifacts of the failed attempt [{}]. Will retry the entire process.",
            list.join(", ")
        );
        Ok(if cancel.is_cancelled() {
            Attempt::Cancelled
        } else {
            Attempt::Failed
        })
    }
}

/// The Launchpad page where an operator accepts a definition.
pub fn launchpad_link(def: &Value) -> String {
    let prefix = match defn::network_name(text(def, "fork_version")) {
        Some("mainnet") | None => String::new(),
        Some(n) => format!("{n}."),
    };
    format!(
        "https://{prefix}launchpad.obol.org/dv#{}",
        config_hash(def).unwrap_or_default()
    )
}

/// A runner for builds where the embedded DKG is not wired in; every attempt fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnavailableDkg;

impl DkgRunner for UnavailableDkg {
    async fn run(
        &self,
        _definition_file: &Path,
        _data_dir: &Path,
        _cancel: CancellationToken,
    ) -> Result<(), DkgRunError> {
        Err(DkgRunError(
            "the embedded DKG is not available in this build".into(),
        ))
    }
}
