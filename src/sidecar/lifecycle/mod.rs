//! The sidecar's life: an existing lock ends it at once; otherwise load the node
//! identity, install the key, then poll the Obol API until a verified, fully
//! signed, authorised definition for this node exists, accepting the chosen
//! invitation on the way when the operator key and a policy allow it, and run
//! the embedded DKG. A failed attempt leaves nothing behind and is retried;
//! SIGTERM stops cleanly, except that outputs peers may depend on are kept.

mod cycle;
mod driver;
mod startup;

pub use super::runner::{DkgRunError, DkgRunner, UnavailableDkg};
pub use driver::{Outcome, Sidecar, SidecarError, launchpad_link};
