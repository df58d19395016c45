//! The DKG ceremony: charon steps 1-8, output staging and atomic writes.

pub mod bundle;
pub mod ceremony;
pub mod datadir;
pub mod erc1271;
pub mod keymanager;
pub mod metrics;
pub mod net;
pub mod output;
pub mod parsig;
pub mod preflight;
pub mod relay_budget;
