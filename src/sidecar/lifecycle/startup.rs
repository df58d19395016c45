//! Start-up paths of the sidecar that need no polling: an existing lock, a
//! lock fetched by hash, and a definition file already on disk.

use std::path::Path;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::driver::{Outcome, Sidecar, SidecarError, io_err};
use crate::sidecar::api::MAX_BODY_BYTES;
use crate::sidecar::artifacts::{VALIDATOR_KEYS_DIR, write_atomic};
use crate::sidecar::backoff::Backoff;
use crate::sidecar::config::parse_hash;
use crate::sidecar::defn::{self, CheckError, Definition};
use crate::sidecar::identity::read_secret_key;
use crate::sidecar::runner::DkgRunner;
use crate::sidecar::select::{Me, Status, bounded, classify, text};

impl<R: DkgRunner> Sidecar<R> {
    /// `LOCK_HASH`, else the content of `<data-dir>/lockhash` (the dv-pod chart's
    /// `charon.lockHash` feature), if any.
    pub(super) fn requested_lock_hash(&self) -> Result<Option<String>, SidecarError> {
        if let Some(h) = &self.config.lock_hash {
            return Ok(Some(h.clone()));
        }
        let file = self.config.data_dir.join("lockhash");
        match std::fs::read_to_string(&file) {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => {
                parse_hash("lockhash file", &text)
                    .map(Some)
                    .map_err(|e| SidecarError::Io {
                        what: "unusable lock hash in",
                        path: file,
                        source: std::io::Error::other(e.0),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("cannot read", &file)(e)),
        }
    }

    /// Fetches the lock `hash` from the API until it exists and verifies, then
    /// writes it read-only; a lock that fails verification is never written.
    pub(super) async fn fetch_lock(
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
    pub(super) fn report_existing_lock(&self, lock: &Path) {
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
        if let Ok(key) = read_secret_key(&self.config.enr_private_key_file, "ENR private key file")
        {
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
    pub(super) fn describe_policy(&self) -> String {
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
    pub(super) async fn local_definition(&self, me: &Me) -> Result<Definition, String> {
        let file = &self.config.output_definition_file;
        let len = std::fs::metadata(file)
            .map_err(|e| format!("cannot read it ({e})"))?
            .len();
        if len > MAX_BODY_BYTES as u64 {
            return Err(format!("larger than {} MiB", MAX_BODY_BYTES >> 20));
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
}
