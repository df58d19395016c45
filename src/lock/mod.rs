//! Charon's file formats: cluster definitions and locks of every version, their
//! SSZ hashes, signatures (EIP-712, ENR, k1, BLS), deposit data, builder
//! registrations, EIP-2335 keystores, and verification.

pub mod consensus;
pub mod deposit;
pub mod keystore;
pub mod network;
pub mod registration;
