//! The sync protocol's error.

/// Sync failure; peer numbers are operator indices.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// A peer told us a fatal error.
    #[error("operator {peer} responded with error: {error}")]
    PeerError {
        /// Remote operator.
        peer: usize,
        /// Its message.
        error: String,
    },
    /// A peer's sync message was invalid (fatal for the ceremony).
    #[error("invalid sync message from operator {peer}: {reason}")]
    InvalidMessage {
        /// Remote operator.
        peer: usize,
        /// Why.
        reason: String,
    },
    /// A peer is more than one step ahead at a barrier.
    #[error("operator {peer} step is too far ahead: at {theirs}, we wait for {ours}")]
    TooFarAhead {
        /// Remote operator.
        peer: usize,
        /// Its step.
        theirs: i64,
        /// Barrier step.
        ours: i64,
    },
    /// Stream or framing failure.
    #[error("sync stream with operator {peer}: {reason}")]
    Stream {
        /// Remote operator.
        peer: usize,
        /// Why.
        reason: String,
    },
    /// Bad configuration.
    #[error("invalid sync configuration: {0}")]
    Config(String),
}
