//! kryptology-compatible FROST DKG on BLS12-381 G1, one [`Participant`] per
//! validator, with round 2 batched across peers and validators.
//!
//! Round 1 (kryptology `dkg_round1.go`): a random polynomial of `t`
//! coefficients, commitments `A_k = a_k * G`, a Schnorr proof of knowledge of
//! `a_0` with challenge `H(byte(id) || 0x00 || A_0 || R)`, and shares `f(j)`.
//! Round 2 (`dkg_round2.go`): verify every proof and every share against the
//! sender's commitments, then derive the secret share, the group key and the
//! public shares of every participant.
//!
//! `participant` holds round 1 and a participant's state, `checks` the
//! decoding and proof and share checks both rounds use, and `round2` the
//! batched round 2.

mod checks;
mod participant;
mod round2;

pub use checks::challenge;
pub use participant::{MAX_PARTICIPANTS, Participant};
pub use round2::{Round2Input, Round2Result, round2_batch};
