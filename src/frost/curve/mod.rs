//! Safe wrappers over blst's BLS12-381 scalar field and G1 group.
//!
//! This is the only module of the crate that calls blst's raw C interface; every
//! `unsafe` block lives here and relies only on blst's documented contracts
//! (valid, properly sized pointers; output buffers sized as blst requires).
//!
//! Encodings follow kryptology and Ethereum: scalars are 32-byte big-endian and
//! must be canonical (`< r`); G1 points are 48-byte ZCash-format compressed and
//! must be on the curve and in the prime-order subgroup.
//!
//! The module is split by concern: `scalar` (the field Fr), `g1` (keys and
//! commitments), `g2` (signatures, hashing to G2, pairings) and `msm`
//! (multi-scalar multiplication in both groups), over `ffi` (blst's
//! out-pointer convention and the point types both groups share). The
//! `unsafe` allowance below covers those children and nothing else.

#![allow(unsafe_code)]

#[macro_use]
mod ffi;

mod error;
mod g1;
mod g2;
mod msm;
mod scalar;

#[cfg(test)]
mod tests;

pub use error::CurveError;
pub use g1::{G1, G1Affine};
pub use g2::{G2, G2Affine, hash_to_g2, pairing_check, pairing_check_hashed};
pub use msm::{MsmScalar, g2_msm, msm};
pub use scalar::{
    KRYPTOLOGY_SCALAR_DST, Scalar, batch_invert, eval_poly, lagrange_coefficients_at_zero,
};
