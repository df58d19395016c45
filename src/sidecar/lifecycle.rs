//! The sidecar's life: an existing lock ends it at once; otherwise load the node
//! identity, install the key, then poll the Obol API until a verified, fully
//! signed, authorised definition for this node exists, accepting the chosen
//! invitation on the way when the operator key and a policy allow it, and run
//! the embedded DKG. A failed attempt leaves nothing behind and is retried;
//! SIGTERM stops cleanly, except that outputs peers may depend on are kept.

use std::collections::HashSet;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::accept::{AcceptError, OperatorSigner, accept_invitation};
use super::api::{ApiError, ObolApi, RetryPolicy};
use super::artifacts::{
    self, LOCK_FILE, VALIDATOR_KEYS_DIR, lock_path, quarantine, remove_new_entries, snapshot,
    stale_outputs, write_atomic,
};
use super::backoff::Backoff;
use super::config::Config;
use super::defn::{self, CheckError, Definition};
use super::identity::{IdentityError, NodeIdentity};
use super::select::{Me, Policy, Status, bounded, classify, describe, order, text};
use crate::dkg::erc1271::{Erc1271Error, ExecutionClient};

/// Why a DKG attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DkgRunError {
    /// What went wrong (bounded: it may quote a peer).
    pub message: String,
    /// The ceremony had got so far (step 7 announced) that peers may have
    /// committed their outputs: whatever this node wrote is kept (set aside,
    /// never deleted), since the cluster's keys may depend on it.
    pub keep_outputs: bool,
}

impl DkgRunError {
    /// A failure before any peer could commit: the attempt is cleaned up.
    pub fn new(message: impl Into<String>) -> Self {
        DkgRunError {
            message: bounded_message(&message.into()),
            keep_outputs: false,
        }
    }

    /// A failure once peers may have committed: this node's outputs are kept.
    pub fn keeping_outputs(message: impl Into<String>) -> Self {
        DkgRunError {
            message: bounded_message(&message.into()),
            keep_outputs: true,
        }
    }
}

/// Ceremony errors can quote peers; keep them to a few lines' worth.
fn bounded_message(s: &str) -> String {
    const MAX: usize = 2000;
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if s.chars().nth(MAX).is_some() {
        format!("{one_line}…")
    } else {
        one_line
    }
}

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

    /// How far the current ceremony got, for runners that can tell (the
    /// demo shows it live); `None` by default.
    fn progress(&self) -> Option<crate::dkg::ceremony::Progress> {
        None
    }
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
    /// The configuration is inconsistent (normally caught by validation).
    #[error("invalid configuration: {0}")]
    Config(String),
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

/// Where the definition of an attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Chosen from the API: the sidecar writes the definition file (and
    /// removes it again after a failure).
    Api,
    /// `OUTPUT_DEFINITION_FILE` existed before the sidecar started: the
    /// operator's file, used as it is and never removed.
    LocalFile,
}

/// What one polling cycle found.
struct Cycle {
    ready: Option<Definition>,
    fingerprint: u64,
    progressed: bool,
}

/// Counts for the one INFO line a cycle logs.
#[derive(Debug, Default)]
struct Tally {
    ready: usize,
    invited: usize,
    waiting: usize,
    rejected: usize,
    unauthorised: usize,
    not_ours: usize,
}

/// A verified candidate of the cycle.
struct Valid {
    def: Definition,
    status: Status,
}

/// The sidecar: configuration, API client and DKG runner.
pub struct Sidecar<R> {
    config: Config,
    api: ObolApi,
    runner: R,
    // Asked about contract-wallet signatures (CHARON_EXECUTION_CLIENT_RPC_ENDPOINT).
    execution_client: Option<ExecutionClient>,
    // Problems already reported, so each is logged once, not every cycle.
    reported: Mutex<HashSet<String>>,
}

impl<R: DkgRunner> Sidecar<R> {
    /// A sidecar with the default request retry policy.
    pub fn new(config: Config, runner: R) -> Result<Self, SidecarError> {
        let api = ObolApi::new(
            &config.api_endpoint,
            config.api_timeout,
            RetryPolicy::default(),
        )?;
        let execution_client = execution_client(&config).map_err(|e| {
            SidecarError::Config(format!("CHARON_EXECUTION_CLIENT_RPC_ENDPOINT: {e}"))
        })?;
        Ok(Sidecar {
            config,
            api,
            runner,
            execution_client,
            reported: Mutex::default(),
        })
    }

    /// A sidecar with a given API client (tests tune its retry policy).
    pub fn with_api(config: Config, api: ObolApi, runner: R) -> Self {
        // The endpoint was validated with the configuration, and building a
        // client can then only fail as building `api` would have.
        let execution_client = execution_client(&config).unwrap_or_else(|e| {
            tracing::error!(
                "CHARON_EXECUTION_CLIENT_RPC_ENDPOINT unusable ({e}); contract-wallet signatures will be rejected"
            );
            None
        });
        Sidecar {
            config,
            api,
            runner,
            execution_client,
            reported: Mutex::default(),
        }
    }

    fn ec(&self) -> Option<&ExecutionClient> {
        self.execution_client.as_ref()
    }

    /// The acceptance policy of the configuration.
    fn policy(&self) -> Policy {
        Policy {
            target_config_hash: self.config.target_config_hash.clone(),
            creators: self.config.accept_invitations_from.clone(),
        }
    }

    /// True the first time `key` is seen: problems are logged once each.
    fn first_report(&self, key: String) -> bool {
        self.reported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
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
        if cfg.operator_private_key_file.is_some() && !self.policy().is_set() {
            return Err(SidecarError::Config(super::config::NO_POLICY.into()));
        }
        let signer = match &cfg.operator_private_key_file {
            Some(p) => {
                let s = OperatorSigner::load(p, &cfg.operator_address)?;
                tracing::info!(
                    "Operator key loaded for {}: invitations authorised by {} will be accepted automatically",
                    s.address(),
                    self.describe_policy()
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
            match self.local_definition(&me).await {
                Ok(def) => {
                    tracing::info!(
                        "Cluster definition already exists at {}. Proceeding to DKG...",
                        cfg.output_definition_file.display()
                    );
                    // The operator's own file pins the cluster: retried, never replaced.
                    let mut backoff = Backoff::new(cfg.backoff);
                    loop {
                        match self.attempt(&def, Source::LocalFile, &cancel).await? {
                            Attempt::Done => return Ok(Outcome::Completed),
                            Attempt::Cancelled => return Ok(Outcome::Cancelled),
                            Attempt::Failed => {}
                        }
                        let delay = backoff.next_delay();
                        tracing::info!(
                            "Retrying the DKG with {} in {:.1} seconds",
                            cfg.output_definition_file.display(),
                            delay.as_secs_f64()
                        );
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = cancel.cancelled() => return Ok(Outcome::Cancelled),
                        }
                    }
                }
                Err(reason) => {
                    let aside = set_aside(&cfg.output_definition_file)
                        .map_err(io_err("cannot move aside", &cfg.output_definition_file))?;
                    tracing::warn!(
                        "Not using the existing definition file {}: {reason}; moved it to {} (kept, not deleted) and polling the Obol API",
                        cfg.output_definition_file.display(),
                        aside.display()
                    );
                }
            }
        }

        let mut backoff = Backoff::new(cfg.backoff);
        let mut last_fingerprint = None;
        loop {
            if cancel.is_cancelled() {
                return Ok(Outcome::Cancelled);
            }
            tracing::debug!(
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
                        match self.attempt(&def, Source::Api, &cancel).await? {
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
            tracing::debug!(
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
                Ok(Some(lock)) => match defn::verify_lock_with(&lock, hash, self.ec()).await {
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
                    Err(CheckError::Invalid(e)) => tracing::error!(
                        "REJECTED lock {hash} served by the Obol API: {e}; it will not be written"
                    ),
                    Err(CheckError::Unchecked(e)) => {
                        tracing::warn!("Cannot verify lock {hash} yet: {e}; retrying")
                    }
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

    /// The policy in words, for the start-up line.
    fn describe_policy(&self) -> String {
        let p = self.policy();
        let mut parts = Vec::new();
        if let Some(t) = &p.target_config_hash {
            parts.push(format!("TARGET_CONFIG_HASH {t}"));
        }
        if !p.creators.is_empty() {
            parts.push(format!(
                "ACCEPT_INVITATIONS_FROM [{}]",
                p.creators.join(", ")
            ));
        }
        parts.join(" or ")
    }

    /// Checks a definition file found on disk at start-up. One whose
    /// contract-wallet signatures cannot be checked yet is still the
    /// operator's pin: it is used, and the DKG checks them again.
    async fn local_definition(&self, me: &Me) -> Result<Definition, String> {
        let file = &self.config.output_definition_file;
        let len = std::fs::metadata(file)
            .map_err(|e| format!("cannot read it ({e})"))?
            .len();
        if len > super::api::MAX_BODY_BYTES as u64 {
            return Err(format!(
                "larger than {} MiB",
                super::api::MAX_BODY_BYTES >> 20
            ));
        }
        let bytes = std::fs::read(file).map_err(|e| format!("cannot read it ({e})"))?;
        let def = defn::parse_definition_bytes(&bytes).map_err(|e| bounded(&e.0))?;
        if let Some(t) = &self.config.target_config_hash
            && &defn::config_hash_hex(&def) != t
        {
            return Err(format!("its config hash is not TARGET_CONFIG_HASH {t}"));
        }
        match classify(&def, me) {
            Status::Ready => {}
            other => return Err(bounded(&format!("not ready for this node ({other:?})"))),
        }
        match defn::verified_for_dkg_with(&def, self.ec()).await {
            Ok(d) => Ok(d),
            Err(CheckError::Invalid(e)) => Err(format!("fails verification: {}", bounded(&e.0))),
            Err(CheckError::Unchecked(e)) => {
                tracing::warn!(
                    "Cannot check the contract-wallet signatures of {} yet: {}; the DKG will check them",
                    self.config.output_definition_file.display(),
                    bounded(&e)
                );
                Ok(def)
            }
        }
    }

    /// The definitions this cycle considers: the pinned one, or every page of
    /// the operator's listing.
    async fn fetch_candidates(&self) -> Result<Vec<Value>, ApiError> {
        let cfg = &self.config;
        Ok(match &cfg.target_config_hash {
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
                self.api
                    .operator_definitions(&cfg.operator_address, cfg.page_limit)
                    .await?
            }
        })
    }

    /// Logs `msg` at warn level the first time `key` is reported, else at debug.
    fn warn_once(&self, key: String, msg: &str) {
        if self.first_report(key) {
            tracing::warn!("{msg}");
        } else {
            tracing::debug!("{msg}");
        }
    }

    /// One polling cycle: every candidate is parsed once, classified, verified
    /// and checked against the policy; problems are reported once per
    /// definition and skipped, so no bad entry hides a good one.
    async fn poll(&self, me: &Me, signer: Option<&OperatorSigner>) -> Result<Cycle, ApiError> {
        let cfg = &self.config;
        let op = &cfg.operator_address;
        let policy = self.policy();
        let served = self.fetch_candidates().await?;

        let mut tally = Tally::default();
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut ready: Vec<Definition> = Vec::new();
        let mut pending: Vec<Valid> = Vec::new();
        for (i, raw) in served.iter().enumerate() {
            let def = match defn::parse_definition(raw) {
                Ok(d) => d,
                Err(e) => {
                    tally.rejected += 1;
                    let mut h = DefaultHasher::new();
                    raw.to_string().hash(&mut h);
                    let key = format!("unreadable:{:x}", h.finish());
                    seen.push((key.clone(), "unreadable".into()));
                    self.warn_once(
                        key,
                        &format!(
                            "REJECTED definition #{} ({}): {}; it will never be used",
                            i + 1,
                            bounded(text(raw, "config_hash")),
                            bounded(&e.0)
                        ),
                    );
                    continue;
                }
            };
            let hash = defn::config_hash_hex(&def);
            let key = format!("{hash}:{}", hex::encode(&def.definition_hash));
            tracing::debug!("  {}. {}", i + 1, describe(&def));
            if let Some(t) = &cfg.target_config_hash
                && &hash != t
            {
                tally.not_ours += 1;
                self.warn_once(
                    format!("not-target:{key}"),
                    &format!(
                        "Obol API returned definition {} when asked for {t}; ignoring it",
                        bounded(&hash)
                    ),
                );
                continue;
            }
            if let Some(want) = cfg.chain_id
                && !defn::chain_id(&defn::fork_version_hex(&def)).is_ok_and(|c| c == want)
            {
                tally.not_ours += 1;
                tracing::debug!(
                    "Ignoring definition {}: fork_version {} is not chain {want} (CHAIN_ID)",
                    bounded(&hash),
                    defn::fork_version_hex(&def)
                );
                continue;
            }
            let status = classify(&def, me);
            seen.push((key.clone(), format!("{status:?}")));
            match status {
                Status::NotOurs => {
                    tally.not_ours += 1;
                    if cfg.target_config_hash.is_some() {
                        if self.first_report(format!("not-ours:{key}")) {
                            tracing::error!(
                                "ENR MISMATCH: definition {hash} (TARGET_CONFIG_HASH) lists neither operator {op} nor this node's ENR {}",
                                me.enr
                            );
                        }
                    } else {
                        tracing::debug!("Definition {} is not for this operator", bounded(&hash));
                    }
                }
                Status::EnrMismatch { found } => {
                    tally.not_ours += 1;
                    self.warn_once(
                        format!("mismatch:{key}"),
                        &format!(
                            "ENR MISMATCH: operator {op} accepted {} with ENR {found}, but this node's ENR is {}; ignoring it",
                            describe(&def),
                            me.enr
                        ),
                    );
                }
                Status::Malformed(reason) => {
                    tally.rejected += 1;
                    self.warn_once(
                        format!("malformed:{key}"),
                        &format!(
                            "REJECTED definition {}: {}; it will never be used",
                            describe(&def),
                            bounded(&reason)
                        ),
                    );
                }
                Status::Ready => {
                    // Nobody consented to an unsigned (ENR-mode) definition:
                    // only the user's own pin makes it usable.
                    if defn::is_unsigned(&def) && !policy.pinned(&def) {
                        tally.unauthorised += 1;
                        self.warn_once(
                            format!("unsigned:{key}"),
                            &format!(
                                "Not using {}: no operator signed this ENR-mode definition; set TARGET_CONFIG_HASH={hash} to use it",
                                describe(&def)
                            ),
                        );
                        continue;
                    }
                    match defn::verified_for_dkg_with(&def, self.ec()).await {
                        Err(CheckError::Unchecked(e)) => {
                            tally.waiting += 1;
                            self.warn_once(
                                format!("unchecked:{key}"),
                                &format!(
                                    "Cannot verify {} yet: {}; retrying next cycle",
                                    describe(&def),
                                    bounded(&e)
                                ),
                            );
                        }
                        Err(CheckError::Invalid(e)) => {
                            tally.rejected += 1;
                            if self.first_report(format!("rejected:{key}")) {
                                tracing::error!(
                                    "REJECTED definition {}: it fails verification ({}); it will never be used",
                                    describe(&def),
                                    bounded(&e.0)
                                );
                            }
                        }
                        Ok(checked) => match policy.check(&checked) {
                            Ok(()) => {
                                tally.ready += 1;
                                ready.push(checked);
                            }
                            Err(why) => {
                                tally.unauthorised += 1;
                                self.warn_once(
                                    format!("unauthorised:{key}"),
                                    &format!(
                                        "Not using fully signed definition {}: {why}",
                                        describe(&def)
                                    ),
                                );
                            }
                        },
                    }
                }
                Status::NeedsOurAcceptance | Status::WaitingForOthers { .. } => {
                    let invited = status == Status::NeedsOurAcceptance;
                    match defn::verify_invitation_with(&def, self.ec()).await {
                        Ok(()) => {}
                        Err(CheckError::Unchecked(e)) => {
                            tally.waiting += 1;
                            self.warn_once(
                                format!("unchecked:{key}"),
                                &format!(
                                    "Cannot verify {} yet: {}; retrying next cycle",
                                    describe(&def),
                                    bounded(&e)
                                ),
                            );
                            continue;
                        }
                        Err(CheckError::Invalid(e)) => {
                            tally.rejected += 1;
                            if self.first_report(format!("rejected:{key}")) {
                                tracing::error!(
                                    "REJECTED {} {}: it fails verification ({}); {}",
                                    if invited { "invitation" } else { "definition" },
                                    describe(&def),
                                    bounded(&e.0),
                                    if invited {
                                        "not accepting it"
                                    } else {
                                        "it will never be used"
                                    }
                                );
                            }
                            continue;
                        }
                    }
                    if let Err(why) = policy.check(&def) {
                        tally.unauthorised += 1;
                        self.warn_once(
                            format!("unauthorised:{key}"),
                            &format!(
                                "Not {} {}: {why}",
                                if invited {
                                    "accepting invitation"
                                } else {
                                    "waiting for"
                                },
                                describe(&def)
                            ),
                        );
                        continue;
                    }
                    if invited {
                        tally.invited += 1;
                    } else {
                        tally.waiting += 1;
                    }
                    pending.push(Valid { def, status });
                }
            }
        }
        order(&mut ready, |d| d);
        order(&mut pending, |v| &v.def);

        let summary = format!(
            "{} ready, {} invited, {} waiting, {} rejected, {} not authorised, {} not ours",
            tally.ready,
            tally.invited,
            tally.waiting,
            tally.rejected,
            tally.unauthorised,
            tally.not_ours
        );
        if served.is_empty() {
            if cfg.target_config_hash.is_none() {
                tracing::info!("No invite found for operator {op}");
            }
        } else {
            tracing::info!(
                "Found {} cluster definition(s) for operator {op}: {summary}",
                served.len()
            );
        }

        let mut progressed = false;
        let mut chosen = ready.into_iter().next();
        if let Some(r) = &chosen {
            tracing::info!(
                "All {} operators have signed {}. Definition ready for DKG!",
                r.operators.len(),
                describe(r)
            );
            if cfg.target_config_hash.is_none() {
                // The listing may be stale or abridged: use the copy served by hash.
                chosen = Some(self.refreshed(me, &policy, r).await);
            }
        } else {
            for cand in &pending {
                let def = &cand.def;
                if let Status::WaitingForOthers { signed, total } = cand.status {
                    // The newest valid one we accepted: nothing older is accepted meanwhile.
                    tracing::info!(
                        "Waiting for other operators on {}: {signed} of {total} have signed",
                        describe(def)
                    );
                    break;
                }
                let Some(s) = signer else {
                    if self.first_report(format!("manual:{}", defn::config_hash_hex(def))) {
                        tracing::info!(
                            "Operator {op} is invited to {} but has not accepted yet. Accept at {} with ENR {}, or set OPERATOR_PRIVATE_KEY_FILE (with TARGET_CONFIG_HASH or ACCEPT_INVITATIONS_FROM) to accept automatically.",
                            describe(def),
                            launchpad_link(def),
                            me.enr
                        );
                    }
                    break;
                };
                match self.accept(s, me, def).await {
                    Ok(updated) => {
                        progressed = true;
                        chosen = updated;
                        break;
                    }
                    // The API refuses this one for good (e.g. 404): the next may work.
                    Err(permanent) if permanent => continue,
                    Err(_) => break,
                }
            }
        }

        let mut h = DefaultHasher::new();
        seen.sort();
        seen.hash(&mut h);
        Ok(Cycle {
            ready: chosen,
            fingerprint: h.finish(),
            progressed,
        })
    }

    /// The ready definition `listed` as served by hash, when that copy is
    /// still ready, valid and authorised; otherwise the listed copy.
    async fn refreshed(&self, me: &Me, policy: &Policy, listed: &Definition) -> Definition {
        let hash = defn::config_hash_hex(listed);
        let fresh = match self.api.definition(&hash).await {
            Ok(Some(v)) => v,
            Ok(None) => return listed.clone(),
            Err(e) => {
                tracing::debug!("Using the listed copy of {hash}: {e}");
                return listed.clone();
            }
        };
        match defn::parse_definition(&fresh) {
            Ok(d)
                if defn::config_hash_hex(&d) == hash
                    && classify(&d, me) == Status::Ready
                    && (!defn::is_unsigned(&d) || policy.pinned(&d)) =>
            {
                match defn::verified_for_dkg_with(&d, self.ec()).await {
                    Ok(checked) if policy.check(&checked).is_ok() => checked,
                    _ => listed.clone(),
                }
            }
            _ => {
                tracing::debug!("Using the listed copy of {hash}");
                listed.clone()
            }
        }
    }

    /// Accepts the verified, authorised invitation `inv`. `Ok` carries the
    /// definition when the acceptance made it ready; `Err(true)` when the API
    /// refused it permanently (reported once), `Err(false)` for a transient
    /// failure worth retrying next cycle.
    async fn accept(
        &self,
        s: &OperatorSigner,
        me: &Me,
        inv: &Definition,
    ) -> Result<Option<Definition>, bool> {
        let hash = defn::config_hash_hex(inv);
        tracing::info!(
            "Accepting invitation {} as operator {} with ENR {}",
            describe(inv),
            s.address(),
            me.enr
        );
        let updated = match accept_invitation(&self.api, s, inv, &me.enr).await {
            Ok(v) => v,
            Err(e) => {
                let permanent = match &e {
                    AcceptError::Api(a) => !a.is_transient(),
                    AcceptError::Definition(_) => true,
                };
                let msg = format!(
                    "Could not accept invitation {hash}: {}",
                    bounded(&e.to_string())
                );
                if permanent {
                    self.warn_once(format!("accept-failed:{hash}"), &msg);
                } else {
                    tracing::warn!("{msg}");
                }
                return Err(permanent);
            }
        };
        tracing::info!("Accepted invitation {hash}");
        let ready = defn::parse_definition(&updated)
            .ok()
            .filter(|d| defn::config_hash_hex(d) == hash && classify(d, me) == Status::Ready);
        let Some(d) = ready else {
            return Ok(None);
        };
        Ok(match defn::verified_for_dkg_with(&d, self.ec()).await {
            Ok(checked) => {
                tracing::info!(
                    "Every operator has now signed {}. Definition ready for DKG!",
                    describe(&checked)
                );
                Some(checked)
            }
            Err(_) => None,
        })
    }

    /// One DKG attempt. A failure removes what the attempt created (the
    /// definition file only if the sidecar wrote it), unless peers may have
    /// committed by then: this node's outputs are then kept, never removed.
    async fn attempt(
        &self,
        def: &Definition,
        source: Source,
        cancel: &CancellationToken,
    ) -> Result<Attempt, SidecarError> {
        let cfg = &self.config;
        let file = &cfg.output_definition_file;
        let before = snapshot(&cfg.data_dir)
            .map_err(io_err("cannot list the data directory", &cfg.data_dir))?;
        if source == Source::Api {
            let mut bytes = defn::definition_bytes(def).map_err(|e| SidecarError::Io {
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
            Err(e) if e.keep_outputs => {
                if lock.is_file() {
                    tracing::error!(
                        "The DKG reported a failure after this node's outputs were committed ({e}); they are kept: peers may hold keys of the same cluster"
                    );
                    return Ok(Attempt::Done);
                }
                tracing::error!(
                    "DKG process failed after step 7, when peers may already have written their keys ({e})"
                );
                let outputs = stale_outputs(&cfg.data_dir)
                    .map_err(io_err("cannot list the data directory", &cfg.data_dir))?;
                if !outputs.is_empty() {
                    let moved = quarantine(&cfg.data_dir, &outputs)
                        .map_err(io_err("cannot set aside the DKG outputs in", &cfg.data_dir))?;
                    tracing::warn!(
                        "Kept what this attempt wrote in {} (not deleted: it may be needed to recover the cluster's keys)",
                        moved.display()
                    );
                }
                if source == Source::Api {
                    artifacts::remove_path(file).map_err(io_err("cannot remove", file))?;
                }
                return Ok(if cancel.is_cancelled() {
                    Attempt::Cancelled
                } else {
                    Attempt::Failed
                });
            }
            Err(e) => tracing::error!("DKG process failed: {e}"),
        }
        let mut removed = remove_new_entries(&cfg.data_dir, &before).map_err(io_err(
            "cannot clean up the failed DKG attempt in",
            &cfg.data_dir,
        ))?;
        if source == Source::Api && file.exists() {
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

/// The client for CHARON_EXECUTION_CLIENT_RPC_ENDPOINT, if one is set.
fn execution_client(config: &Config) -> Result<Option<ExecutionClient>, Erc1271Error> {
    ExecutionClient::optional(config.dkg.execution_client_rpc_endpoint.as_deref())
}

/// Moves an unusable file the sidecar did not create to
/// `<name>.unusable-<time>` beside it, so nothing an operator put there is lost.
fn set_aside(file: &Path) -> std::io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".unusable-{stamp}"));
    let target = file.with_file_name(name);
    std::fs::rename(file, &target)?;
    Ok(target)
}

/// The Launchpad page where an operator accepts a definition.
pub fn launchpad_link(def: &Definition) -> String {
    let prefix = match defn::network_name(&defn::fork_version_hex(def)) {
        Some("mainnet") | None => String::new(),
        Some(n) => format!("{n}."),
    };
    format!(
        "https://{prefix}launchpad.obol.org/dv#{}",
        defn::config_hash_hex(def)
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
        Err(DkgRunError::new(
            "the embedded DKG is not available in this build",
        ))
    }
}
