//! Operator identities: secp256k1 keys, signatures and addresses ([`k1`]), and
//! the Ethereum Node Records built from them ([`enr`]).

pub mod enr;
pub mod k1;
