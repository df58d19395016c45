//! libp2p host and charon's DKG wire protocols.

pub mod bcast;
pub mod collect;
pub mod dial;
pub mod direct;
pub mod frame;
pub mod frostp2p;
pub mod gater;
pub mod host;
pub mod identity;
pub mod inbound;
pub mod k1sig;
pub mod limits;
pub mod nodesig;
pub mod parsigex;
mod passive;
pub mod peerinfo;
pub mod proto;
pub mod protocols;
pub mod relay;
pub mod relay_enr;
pub mod relay_http;
pub mod stream;
/// The stream-ending helpers under their former path; they live in [`stream`].
pub mod streams {
    pub use super::stream::{MAX_TRAILER, close_and_drain, send_once};
}
pub mod sync;
