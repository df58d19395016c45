//! The steps by number and name, and how far a running ceremony got.

use std::sync::Arc;

/// Number of steps a ceremony goes through.
pub const STEPS: u64 = 8;

const STEP_NAMES: [&str; 9] = [
    "",
    "FROST key generation",
    "deposit data",
    "builder registrations",
    "lock hash signature",
    "node signatures",
    "verification",
    "outputs",
    "shutdown",
];

/// The name of ceremony step `step` (1-8; empty otherwise).
pub fn step_name(step: u64) -> &'static str {
    STEP_NAMES.get(step as usize).copied().unwrap_or("")
}

/// How far a running ceremony got, for a caller deciding what an interruption
/// may still discard. Once this node has announced step 7, peers may commit
/// their outputs (they pass the step-7 barrier as soon as they see us there),
/// so from then on the ceremony must be finished, not abandoned; and once
/// [`Progress::outputs_committed`], this node's outputs are final.
#[derive(Debug, Clone)]
pub struct Progress(Arc<tokio::sync::watch::Sender<ProgressState>>);

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressState {
    /// The last step this node announced to its peers (0 before step 1).
    pub step: u64,
    /// This node's outputs are on disk (or, with a keymanager, imported and written).
    pub committed: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Progress(Arc::new(tokio::sync::watch::Sender::new(
            ProgressState::default(),
        )))
    }
}

impl Progress {
    /// The current state.
    pub fn state(&self) -> ProgressState {
        *self.0.borrow()
    }

    /// Whether peers may already have committed outputs of this ceremony.
    pub fn peers_may_commit(&self) -> bool {
        self.state().step >= 7
    }

    /// Whether this node's outputs were committed.
    pub fn outputs_committed(&self) -> bool {
        self.state().committed
    }

    /// Notified on every change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<ProgressState> {
        self.0.subscribe()
    }

    /// Back to the start, for the next ceremony observed through this value.
    pub fn reset(&self) {
        self.0.send_replace(ProgressState::default());
    }

    pub(super) fn announce(&self, step: u64) {
        self.0.send_modify(|s| s.step = s.step.max(step));
    }

    pub(super) fn mark_committed(&self) {
        self.0.send_modify(|s| s.committed = true);
    }
}
