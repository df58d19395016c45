//! The DKG node's libp2p host: TCP + Noise + yamux, identify, ping, a
//! circuit-relay v2 client with reservations on every resolved relay, the
//! cluster gater, and generic streams (`libp2p-stream`).
//!
//! The swarm runs on its own tokio task; [`Host`] is the handle the ceremony
//! uses. Protocol logic stays with the callers: they get raw streams.
//!
//! Lifecycle: [`Host::new`], then register every protocol with
//! [`Host::accept`] (Go peers use identify's protocol list optimistically, so
//! all protocols must be known before the first connection), then
//! [`Host::start`], which listens, resolves relays and starts connecting.
//!
//! `config` holds what a host is built from, `behaviour` the composed
//! libp2p behaviour and its bounds, `handle` the [`Host`] handle, `runner`
//! the swarm task (listening, dialing, relay reservations) and
//! `swarm_events` how that task reacts to swarm events.

mod behaviour;
mod config;
mod error;
mod handle;
mod messages;
mod runner;
mod swarm_events;

pub use super::inbound::IncomingStreams;
pub use behaviour::{IDENTIFY_PROTOCOL_VERSION, connection_limits};
pub use config::HostConfig;
pub(crate) use error::listen_failure;
pub use error::{HostError, OpenTimeout};
pub use handle::Host;
pub use messages::PeerEvent;
