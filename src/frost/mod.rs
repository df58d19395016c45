//! The crypto core: kryptology-compatible FROST DKG on BLS12-381 G1 and threshold
//! BLS, on blst. Pure: no I/O, no async.

pub mod bls;
pub mod curve;
pub mod dkg;
pub mod error;
pub mod messages;

pub use dkg::{Participant, Round2Input, Round2Result, round2_batch};
pub use error::FrostError;
pub use messages::{MessageError, Round1Bcast, Round2Bcast, ShamirShare};
