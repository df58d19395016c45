//! charon-dkg-sidecar: a pure-Rust distributed key generation engine for Obol
//! distributed validators, wire-compatible with charon.
//!
//! Data flows one way: [`sidecar`] drives [`dkg`], which uses [`p2p`] and
//! [`frost`], which produce the files modelled in [`lock`].

#![deny(unsafe_code)]

pub mod cmd;
pub mod dkg;
pub mod frost;
pub mod lock;
pub mod p2p;
pub mod sidecar;
