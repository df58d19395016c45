//! charon's reliable broadcast ("bcast"): every peer co-signs the exact bytes
//! of a message (`/sig`), then the sender delivers the message with all n
//! signatures (`/msg`).
//!
//! Hashes are always computed over the `Any` bytes as received, never over a
//! re-encoding. Deliveries are queued per message ID from registration on, so
//! messages of phases we have not reached yet are kept (Go peers never resend).
//!
//! `hash` holds what is signed and how a signature set is checked,
//! `endpoint` the [`Bcast`] endpoint with its registry and co-signing rules,
//! `server` the `/sig` and `/msg` handlers and `client` the broadcasting
//! side.

mod client;
mod endpoint;
mod error;
mod hash;
mod server;

pub use endpoint::{Bcast, Delivery};
pub use error::BcastError;
pub use hash::{hash_any, verify_signatures};
