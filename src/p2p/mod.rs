//! libp2p host and charon's DKG wire protocols.

pub mod dial;
pub mod gater;
pub mod host;
pub mod identity;
pub mod relay;
pub mod relay_enr;
pub mod relay_http;
pub mod streams;
