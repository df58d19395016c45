//! How a ceremony fails.

use std::time::Duration;

use crate::dkg::keymanager::KeymanagerError;
use crate::dkg::output::OutputError;

/// Why the ceremony failed. Every message says which step and, where known,
/// which operator or validator.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// Local set-up failed (keys, definition, host).
    #[error("{0}")]
    Setup(String),
    /// A relay-only ceremony too large for the relay's circuits.
    #[error(transparent)]
    RelayBudget(#[from] crate::dkg::relay_budget::OverBudget),
    /// Peers did not all connect in time.
    #[error("peers did not connect within {timeout:?}: missing operator(s) {missing}")]
    Connect {
        /// How long we waited.
        timeout: Duration,
        /// Missing operators, described.
        missing: String,
    },
    /// A step failed.
    #[error("step {step} ({name}): {reason}")]
    Step {
        /// Step number.
        step: u64,
        /// Step name.
        name: &'static str,
        /// What failed.
        reason: String,
    },
    /// A peer aborted or misbehaved in the sync protocol.
    #[error("sync protocol: {0}")]
    Sync(String),
    /// Writing the outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The ceremony succeeded but the keymanager refused the keys; they were
    /// written to disk instead so nothing is lost.
    #[error(
        "{source}; the ceremony itself succeeded and the keystores were written to {keys_dir} instead: import them into the validator client manually"
    )]
    KeymanagerFallback {
        /// Why the import failed.
        source: KeymanagerError,
        /// Where the keystores are.
        keys_dir: String,
    },
}
