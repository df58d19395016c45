//! Package `app.peerinfo.peerinfopb.v1`.

use super::{Timestamp, no_required_fields, proto_name};

/// Peer information served on `/charon/peerinfo/2.0.0`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PeerInfo {
    /// Full software version, e.g. `v1.11.0`.
    #[prost(string, tag = "1")]
    pub charon_version: String,
    /// During a DKG: the raw 32-byte definition hash.
    #[prost(bytes = "vec", tag = "2")]
    pub lock_hash: Vec<u8>,
    /// Send time (proto3 `optional`; always populated).
    #[prost(message, optional, tag = "3")]
    pub sent_at: Option<Timestamp>,
    /// Build commit.
    #[prost(string, tag = "4")]
    pub git_hash: String,
    /// Start time (proto3 `optional`; always populated).
    #[prost(message, optional, tag = "5")]
    pub started_at: Option<Timestamp>,
    /// Builder API flag (false during a DKG).
    #[prost(bool, tag = "6")]
    pub builder_api_enabled: bool,
    /// Nickname (empty during a DKG).
    #[prost(string, tag = "7")]
    pub nickname: String,
    /// Distributed-validator client identifier.
    #[prost(string, tag = "8")]
    pub dv_client: String,
}

proto_name!("app.peerinfo.peerinfopb.v1": PeerInfo);
no_required_fields!(PeerInfo);
