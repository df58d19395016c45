//! Ethereum consensus objects a cluster carries: the phase0 / builder-spec
//! containers, their SSZ roots and signing domains, deposits and deposit-data
//! files, builder registrations, and the networks charon knows.

pub mod consensus;
pub mod deposit;
pub mod network;
pub mod registration;
pub mod signing;
