//! The error of the bcast protocol.

use crate::p2p::frame::FrameError;
use crate::p2p::k1sig::K1Error;
use crate::p2p::proto::ProtoError;

/// bcast failure; peer numbers are operator indices.
#[derive(Debug, thiserror::Error)]
pub enum BcastError {
    /// A message ID that was never registered.
    #[error("unknown bcast message id {0:?}")]
    UnknownMessageId(String),
    /// The sender index is not a cluster peer (or is ourselves).
    #[error("bcast from invalid peer index {0}")]
    InvalidSender(usize),
    /// The message body is not the registered type.
    #[error("bcast message {msg_id:?} rejected: {source}")]
    Check {
        /// Message ID.
        msg_id: String,
        /// Decoding or type failure.
        source: ProtoError,
    },
    /// Peer asked us to co-sign different bytes for a message ID we already signed for it.
    #[error(
        "duplicate ID, mismatching hash: operator {peer} already had a different {msg_id:?} message co-signed"
    )]
    DuplicateMismatch {
        /// Requesting operator.
        peer: usize,
        /// Message ID.
        msg_id: String,
    },
    /// A fully signed message this endpoint never co-signed: it belongs to
    /// another attempt (a replay), since every sender asks us first.
    #[error(
        "bcast message {msg_id:?} from operator {peer} was not co-signed by this node in this attempt"
    )]
    NotCoSigned {
        /// Sending operator.
        peer: usize,
        /// Message ID.
        msg_id: String,
    },
    /// Wrong number of signatures.
    #[error("invalid number of signatures: got {got}, want {want}")]
    SignatureCount {
        /// Received.
        got: usize,
        /// Operators in the cluster.
        want: usize,
    },
    /// A co-signature does not verify.
    #[error("invalid bcast signature of operator {peer}: {source}")]
    BadSignature {
        /// Signing operator.
        peer: usize,
        /// Why.
        source: K1Error,
    },
    /// Stream or framing failure.
    #[error("bcast stream with operator {peer}: {source}")]
    Stream {
        /// Remote operator.
        peer: usize,
        /// Why.
        source: FrameError,
    },
    /// Opening a stream failed.
    #[error("opening bcast stream to operator {peer}: {source}")]
    Open {
        /// Remote operator.
        peer: usize,
        /// Why.
        source: std::io::Error,
    },
    /// A send gave up after its retries.
    #[error("bcast {what} to operator {peer} failed: {reason}")]
    SendFailed {
        /// `co-signature request` or `message`.
        what: &'static str,
        /// Remote operator.
        peer: usize,
        /// Last failure.
        reason: String,
    },
    /// Local signing failed.
    #[error("signing bcast hash: {0}")]
    Sign(K1Error),
    /// Bad configuration.
    #[error("invalid bcast configuration: {0}")]
    Config(String),
}
