//! Validation of the raw settings, all at once and before any network traffic.

use std::path::PathBuf;

use reqwest::Url;

use super::parse::{
    bad, clean_list, is_address, non_empty, parse_address, parse_api_endpoint, parse_bool,
    parse_go_duration, parse_log_level, parse_optional_hash, parse_secs,
};
use super::settings::{DkgFlags, Settings};
use super::validated::{Config, ConfigError, DkgSettings, NO_POLICY};
use crate::sidecar::backoff::BackoffPolicy;

impl Settings {
    /// Overrides the operator address and ENR file with the original sidecar's
    /// positional arguments (`<operator> <enr file>`), which beat the environment.
    pub fn with_positional(mut self, operator: Option<String>, enr_file: Option<PathBuf>) -> Self {
        if operator.is_some() {
            self.operator_address = operator;
        }
        if let Some(f) = enr_file {
            self.enr_file_path = f;
        }
        self
    }

    /// Validates every setting; reads no files and touches no network.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let operator_address = parse_address(self.operator_address.as_deref())?;
        let api_endpoint = parse_api_endpoint(&self.api_endpoint)?;
        let initial = parse_secs(
            "INITIAL_RETRY_INTERVAL_SECONDS",
            &self.initial_retry_interval_seconds,
        )?;
        let max = parse_secs(
            "MAX_RETRY_INTERVAL_SECONDS",
            &self.max_retry_interval_seconds,
        )?;
        if max < initial {
            return Err(bad(format!(
                "MAX_RETRY_INTERVAL_SECONDS ({}) is smaller than INITIAL_RETRY_INTERVAL_SECONDS ({})",
                max.as_secs_f64(),
                initial.as_secs_f64()
            )));
        }
        let factor: f64 = self.backoff_factor.trim().parse().map_err(|_| {
            bad(format!(
                "BACKOFF_FACTOR {:?} is not a number",
                self.backoff_factor
            ))
        })?;
        if !factor.is_finite() || !(1.0..=100.0).contains(&factor) {
            return Err(bad(format!(
                "BACKOFF_FACTOR {factor} must be between 1 and 100"
            )));
        }
        let page_limit: u32 = self.page_limit.trim().parse().map_err(|_| {
            bad(format!(
                "PAGE_LIMIT {:?} is not a positive whole number",
                self.page_limit
            ))
        })?;
        if !(1..=1000).contains(&page_limit) {
            return Err(bad(format!(
                "PAGE_LIMIT {page_limit} must be between 1 and 1000"
            )));
        }
        let log_level = parse_log_level(&self.log_level)?;
        let target_config_hash =
            parse_optional_hash("TARGET_CONFIG_HASH", self.target_config_hash.as_deref())?;
        let lock_hash = parse_optional_hash("LOCK_HASH", self.lock_hash.as_deref())?;
        let chain_id = self
            .chain_id
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|c| *c > 0)
                    .ok_or_else(|| bad(format!("CHAIN_ID {s:?} is not a positive whole number")))
            })
            .transpose()?;
        let api_timeout = parse_secs("API_TIMEOUT_SECONDS", &self.api_timeout_seconds)?;
        if api_timeout.is_zero() {
            return Err(bad("API_TIMEOUT_SECONDS must be greater than 0"));
        }
        let operator_private_key_file = self
            .operator_private_key_file
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        let mut accept_invitations_from = Vec::new();
        for a in clean_list(&self.accept_invitations_from) {
            if !is_address(&a) {
                return Err(bad(format!(
                    "ACCEPT_INVITATIONS_FROM entry {a:?} is not an Ethereum address (0x followed by 40 hex digits)"
                )));
            }
            let a = a.to_ascii_lowercase();
            if !accept_invitations_from.contains(&a) {
                accept_invitations_from.push(a);
            }
        }
        if operator_private_key_file.is_some()
            && target_config_hash.is_none()
            && accept_invitations_from.is_empty()
        {
            return Err(bad(NO_POLICY));
        }
        for (name, p) in [
            ("ENR_FILE_PATH", &self.enr_file_path),
            ("OUTPUT_DEFINITION_FILE", &self.output_definition_file),
            ("CHARON_NODE_ID_DIR", &self.charon_node_id_dir),
            ("CHARON_PRIVATE_KEY_FILE", &self.charon_private_key_file),
        ] {
            if p.as_os_str().is_empty() {
                return Err(bad(format!("{name} is empty")));
            }
        }
        let dkg = self.dkg.validate(&api_endpoint)?;
        Ok(Config {
            operator_address,
            enr_file: self.enr_file_path.clone(),
            output_definition_file: self.output_definition_file.clone(),
            api_endpoint,
            data_dir: self.charon_node_id_dir.clone(),
            enr_private_key_file: self.charon_private_key_file.clone(),
            operator_private_key_file,
            accept_invitations_from,
            target_config_hash,
            lock_hash,
            chain_id,
            backoff: BackoffPolicy {
                initial,
                max,
                factor,
                jitter: true,
            },
            page_limit,
            log_level,
            api_timeout,
            dkg,
        })
    }
}

impl DkgFlags {
    fn validate(&self, api: &Url) -> Result<DkgSettings, ConfigError> {
        let relays: Vec<String> = clean_list(&self.p2p_relays);
        for r in &relays {
            if !(r.starts_with("http://") || r.starts_with("https://") || r.starts_with('/')) {
                return Err(bad(format!(
                    "CHARON_P2P_RELAYS entry {r:?} is neither an http(s) URL nor a multiaddr"
                )));
            }
        }
        let tcp_addresses = clean_list(&self.p2p_tcp_address);
        for a in &tcp_addresses {
            if a.rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_none()
            {
                return Err(bad(format!(
                    "CHARON_P2P_TCP_ADDRESS entry {a:?} is not host:port"
                )));
            }
        }
        let external_ip = non_empty(&self.p2p_external_ip);
        if let Some(ip) = &external_ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(bad(format!(
                "CHARON_P2P_EXTERNAL_IP {ip:?} is not an IP address"
            )));
        }
        let publish = parse_bool("CHARON_PUBLISH", &self.publish)?;
        let publish_address = match non_empty(&self.publish_address) {
            Some(a) => {
                Url::parse(&a)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        bad(format!(
                            "CHARON_PUBLISH_ADDRESS {a:?} is not an http(s) URL"
                        ))
                    })?;
                a.trim_end_matches('/').to_string()
            }
            None => format!("{}/v1", api.as_str().trim_end_matches('/')),
        };
        let nickname = non_empty(&self.nickname);
        if let Some(n) = &nickname
            && n.chars().count() > 32
        {
            return Err(bad(format!(
                "CHARON_NICKNAME {n:?} is longer than 32 characters"
            )));
        }
        let execution_client_rpc_endpoint = non_empty(&self.execution_client_rpc_endpoint);
        if let Some(url) = &execution_client_rpc_endpoint
            && crate::dkg::erc1271::parse_endpoint(url).is_err()
        {
            // The value is not repeated: it may hold an API key.
            return Err(bad(
                "CHARON_EXECUTION_CLIENT_RPC_ENDPOINT is not an http(s) URL with a host",
            ));
        }
        let timeout = parse_go_duration("CHARON_TIMEOUT", &self.timeout)?;
        if timeout.is_zero() {
            return Err(bad("CHARON_TIMEOUT must be greater than 0"));
        }
        Ok(DkgSettings {
            relays,
            tcp_addresses,
            external_ip,
            external_hostname: non_empty(&self.p2p_external_hostname),
            timeout,
            publish,
            publish_address,
            publish_timeout: parse_go_duration("CHARON_PUBLISH_TIMEOUT", &self.publish_timeout)?,
            shutdown_delay: parse_go_duration("CHARON_SHUTDOWN_DELAY", &self.shutdown_delay)?,
            nickname,
            execution_client_rpc_endpoint,
        })
    }
}
