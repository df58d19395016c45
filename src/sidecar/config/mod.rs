//! Sidecar configuration: every environment variable of the original TypeScript
//! sidecar (same names, same defaults), the new ones, and charon's `CHARON_*`
//! DKG settings, validated up front so bad input fails before any network traffic.

mod parse;
mod settings;
mod validate;
mod validated;

#[cfg(test)]
mod tests;

pub use parse::{is_address, parse_go_duration, parse_hash};
pub use settings::{DEFAULT_API_ENDPOINT, DEFAULT_DKG_RELAY, DkgFlags, Settings};
pub use validated::{Config, ConfigError, DkgSettings, LogLevel, NO_POLICY};
