//! The cluster files charon reads and writes: definitions and locks of every
//! version (model, Go-exact JSON, SSZ hashes, EIP-712 digests), their
//! verification (including ERC-1271 contract signatures), generating a cluster,
//! and checking a node's data directory.
//!
//! Layering, bottom up: `error`, `version`, `json`, `ssz`; the models and their
//! reading (`definition`, `lockfile`); `hash`; `write` (charon's bytes, which
//! embed the recomputed hashes); then `eip712`, `contract`, `verify`, `create`,
//! `sample`, `datadir`.

pub mod contract;
pub mod create;
pub mod datadir;
pub mod definition;
pub mod eip712;
pub mod error;
mod hash;
pub mod json;
pub mod lockfile;
pub mod sample;
pub mod ssz;
pub mod verify;
pub mod version;
mod write;
