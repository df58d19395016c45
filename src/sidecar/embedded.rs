//! The embedded DKG: the sidecar's [`DkgRunner`] backed by this crate's own
//! ceremony, so no charon binary is needed.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::dkg::ceremony::{self, CeremonyConfig, Progress};
use crate::dkg::preflight;
use crate::lock::keystore::DEFAULT_PBKDF2_C;
use crate::lock::network::NetworkSet;
use crate::lock::version::Version;
use crate::p2p::protocols::Compat;

use super::config::DkgSettings;
use super::runner::{DkgRunError, DkgRunner};

/// Runs charon's DKG in-process with the sidecar's `CHARON_*` settings.
#[derive(Debug, Clone)]
pub struct EmbeddedDkg {
    /// Relays, addresses, timeouts.
    pub settings: DkgSettings,
    /// pbkdf2 iterations of the keystores (charon's 262144 by default).
    pub keystore_pbkdf2_c: u32,
    /// How far the current (last) ceremony got; reset by every attempt.
    pub progress: Progress,
}

impl EmbeddedDkg {
    /// A runner with charon's keystore cost.
    pub fn new(settings: DkgSettings) -> Self {
        EmbeddedDkg {
            settings,
            keystore_pbkdf2_c: DEFAULT_PBKDF2_C,
            progress: Progress::default(),
        }
    }

    fn config(&self, data_dir: &Path) -> Result<CeremonyConfig, DkgRunError> {
        let s = &self.settings;
        let tcp_listen = s
            .tcp_addresses
            .iter()
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse().map_err(|_| {
                    DkgRunError::new(format!("CHARON_P2P_TCP_ADDRESS {a:?} is not ip:port"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let external_ip = match s.external_ip.as_deref().filter(|x| !x.is_empty()) {
            Some(ip) => Some(ip.parse().map_err(|_| {
                DkgRunError::new(format!("CHARON_P2P_EXTERNAL_IP {ip:?} is not an IP"))
            })?),
            None => None,
        };
        Ok(CeremonyConfig {
            data_dir: data_dir.to_path_buf(),
            relays: s.relays.clone(),
            tcp_listen,
            external_ip,
            external_hostname: s.external_hostname.clone().filter(|h| !h.is_empty()),
            timeout: s.timeout,
            no_verify: false,
            compat: Compat::V1_11,
            nickname: s.nickname.clone().unwrap_or_default(),
            networks: NetworkSet::DEFAULT,
            keystore_pbkdf2_c: self.keystore_pbkdf2_c,
            keymanager: None,
            fault: None,
            disable_reuseport: false,
            relay_only: false,
            execution_client: s.execution_client().map_err(|e| {
                DkgRunError::new(format!("CHARON_EXECUTION_CLIENT_RPC_ENDPOINT: {e}"))
            })?,
        })
    }
}

impl EmbeddedDkg {
    /// Publishes the lock to the Obol API (CHARON_PUBLISH). As in charon, a
    /// failure is only a warning: the outputs are complete either way.
    async fn publish(&self, data_dir: &Path) {
        let s = &self.settings;
        let result = match reqwest::Url::parse(&s.publish_address) {
            Ok(url) => {
                super::api::publish_lock_file(
                    &data_dir.join(crate::dkg::output::LOCK_FILE),
                    &url,
                    "/v1/lock",
                    s.publish_timeout,
                )
                .await
            }
            Err(e) => Err(format!("{:?}: {e}", s.publish_address)),
        };
        match result {
            Ok(o) => {
                tracing::info!(outcome = ?o, address = %s.publish_address, "Lock published to the Obol API")
            }
            Err(e) => {
                tracing::warn!(error = %e, address = %s.publish_address, "Publishing the lock failed; outputs are complete")
            }
        }
    }
}

impl DkgRunner for EmbeddedDkg {
    fn progress(&self) -> Option<Progress> {
        Some(self.progress.clone())
    }

    /// Cancellation abandons the ceremony only until this node announces step
    /// 7. From then on peers may commit their outputs, so abandoning it could
    /// leave the cluster with keys this node lacks: it finishes (the remaining
    /// waits are bounded by the peers' liveness and the shutdown timeout) and
    /// the outputs stay.
    async fn run(
        &self,
        definition_file: &Path,
        data_dir: &Path,
        cancel: CancellationToken,
    ) -> Result<(), DkgRunError> {
        let cfg = self.config(data_dir)?;
        crate::dkg::output::clean_stale_staging(data_dir);
        crate::dkg::datadir::check_clean(data_dir).map_err(|e| DkgRunError::new(e.to_string()))?;
        let path = definition_file.display().to_string();
        let bytes = preflight::load_definition_bytes(&path)
            .await
            .map_err(|e| DkgRunError::new(e.to_string()))?;
        let checked = preflight::check_definition_with(
            &path,
            &bytes,
            false,
            cfg.networks,
            Version::V1_11,
            cfg.execution_client.as_ref(),
        )
        .await
        .map_err(|e| DkgRunError::new(e.to_string()))?;
        let metrics = crate::dkg::metrics::Metrics::new();
        // Observers (tests) of `self.progress` follow this attempt.
        let progress = &self.progress;
        progress.reset();
        let ceremony = ceremony::run_with_progress(&cfg, &checked, &metrics, progress);
        tokio::pin!(ceremony);
        let result = tokio::select! {
            r = &mut ceremony => r,
            _ = cancel.cancelled() => {
                if !progress.peers_may_commit() {
                    return Err(DkgRunError::new("DKG cancelled"));
                }
                tracing::warn!(
                    step = progress.state().step,
                    "Stop requested after this node announced step 7: peers may already have written their keys, so the ceremony is finished first and its outputs are kept"
                );
                (&mut ceremony).await
            }
        };
        match result {
            Ok(outcome) => {
                tracing::info!(
                    lock_hash = %format!("0x{}", hex::encode(outcome.lock_hash)),
                    validators = outcome.validators.len(),
                    "Embedded DKG completed"
                );
                if cancel.is_cancelled() {
                    tracing::warn!(
                        "The DKG completed after a stop was requested; its outputs are complete. Not publishing the lock."
                    );
                } else if self.settings.publish {
                    self.publish(data_dir).await;
                }
                Ok(())
            }
            Err(e) if progress.peers_may_commit() => {
                Err(DkgRunError::keeping_outputs(e.to_string()))
            }
            Err(e) => Err(DkgRunError::new(e.to_string())),
        }
    }
}
