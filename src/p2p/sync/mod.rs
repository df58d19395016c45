//! The sync protocol `/charon/dkg/sync/1.0.0/`: mutual authentication of the
//! definition, version check, step barriers and graceful shutdown.
//!
//! Every node runs one [`SyncServer`] (one long-lived inbound stream per
//! peer) and one [`SyncClient`] per peer (a request every 100 ms). Framing is
//! the 8-byte little-endian length prefix, not varint.
//!
//! `protocol` holds the protocol's constants, framing and version and step
//! rules, `server` the server side, `client` the client side.

mod client;
mod error;
mod protocol;
mod server;

pub use client::{SessionEnd, SyncClient, SyncLocal};
pub use error::SyncError;
pub use protocol::{
    MAX_NICKNAME_LEN, MAX_PEER_TEXT, MAX_RECONNECT_DELAY, RESTART_ERROR, SHUTDOWN_STEP,
    SYNC_PERIOD, SYNC_READ_TIMEOUT, check_version, definition_hash_signature, next_peer_step,
    parse_version, peer_text,
};
pub use server::SyncServer;
