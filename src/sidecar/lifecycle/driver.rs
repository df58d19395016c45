//! The [`Sidecar`] itself: its set-up, the main loop and one DKG attempt.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use crate::dkg::erc1271::ExecutionClient;
use crate::sidecar::accept::OperatorSigner;
use crate::sidecar::api::{ApiError, ObolApi, RetryPolicy};
use crate::sidecar::artifacts::{
    self, LOCK_FILE, lock_path, quarantine, remove_new_entries, set_aside, snapshot, stale_outputs,
    write_atomic,
};
use crate::sidecar::backoff::Backoff;
use crate::sidecar::config::{Config, NO_POLICY};
use crate::sidecar::defn::{self, Definition};
use crate::sidecar::identity::{IdentityError, NodeIdentity};
use crate::sidecar::runner::DkgRunner;
use crate::sidecar::select::{Me, Policy};

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

pub(super) fn io_err(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> SidecarError {
    let path = path.to_path_buf();
    move |source| SidecarError::Io { what, path, source }
}

pub(super) enum Attempt {
    Done,
    Failed,
    Cancelled,
}

/// Where the definition of an attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// Chosen from the API: the sidecar writes the definition file (and
    /// removes it again after a failure).
    Api,
    /// `OUTPUT_DEFINITION_FILE` existed before the sidecar started: the
    /// operator's file, used as it is and never removed.
    LocalFile,
}

/// The sidecar: configuration, API client and DKG runner.
pub struct Sidecar<R> {
    pub(super) config: Config,
    pub(super) api: ObolApi,
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
        let execution_client = config.dkg.execution_client().map_err(|e| {
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
        let execution_client = config.dkg.execution_client().unwrap_or_else(|e| {
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

    pub(super) fn ec(&self) -> Option<&ExecutionClient> {
        self.execution_client.as_ref()
    }

    /// The acceptance policy of the configuration.
    pub(super) fn policy(&self) -> Policy {
        Policy {
            target_config_hash: self.config.target_config_hash.clone(),
            creators: self.config.accept_invitations_from.clone(),
        }
    }

    /// True the first time `key` is seen: problems are logged once each.
    pub(super) fn first_report(&self, key: String) -> bool {
        self.reported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
    }

    /// Logs `msg` at warn level the first time `key` is reported, else at debug.
    pub(super) fn warn_once(&self, key: String, msg: &str) {
        if self.first_report(key) {
            tracing::warn!("{msg}");
        } else {
            tracing::debug!("{msg}");
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
        if cfg.operator_private_key_file.is_some() && !self.policy().is_set() {
            return Err(SidecarError::Config(NO_POLICY.into()));
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
