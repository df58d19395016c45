//! The DKG as the sidecar drives it: the [`DkgRunner`] interface, its error,
//! and a stand-in for builds without the embedded ceremony.

use std::future::Future;
use std::path::Path;

use tokio_util::sync::CancellationToken;

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
