//! The crypto core: kryptology-compatible FROST DKG on BLS12-381 G1 and threshold
//! BLS, on blst. Pure: no I/O, no async.

pub mod bls;
