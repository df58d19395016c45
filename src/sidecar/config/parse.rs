//! Parsers of single settings; each error names the variable.

use std::time::Duration;

use reqwest::Url;

use super::validated::{ConfigError, LogLevel};

pub(super) fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

pub(super) fn clean_list(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub(super) fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Parses an Ethereum address: `0x` followed by 40 hex digits, case preserved.
pub(super) fn parse_address(v: Option<&str>) -> Result<String, ConfigError> {
    let v = v.map(str::trim).unwrap_or("");
    if v.is_empty() || v == "null" {
        return Err(bad(
            "OPERATOR_ADDRESS is not set (set it, pass it as the first argument, or set .Values.charon.operatorAddress)",
        ));
    }
    if is_address(v) {
        Ok(v.to_string())
    } else {
        Err(bad(format!(
            "OPERATOR_ADDRESS {v:?} is not an Ethereum address (0x followed by 40 hex digits)"
        )))
    }
}

/// Whether `v` is `0x` followed by 40 hex digits.
pub fn is_address(v: &str) -> bool {
    v.strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses a 32-byte hash (`0x` optional, any case) to lower-case `0x` hex.
pub fn parse_hash(name: &str, v: &str) -> Result<String, ConfigError> {
    let t = v.trim();
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("0x{}", h.to_ascii_lowercase()))
    } else {
        Err(bad(format!(
            "{name} {v:?} is not a 32-byte hash (0x followed by 64 hex digits)"
        )))
    }
}

/// [`parse_hash`] of an optional setting; unset or blank means none.
pub(super) fn parse_optional_hash(
    name: &str,
    v: Option<&str>,
) -> Result<Option<String>, ConfigError> {
    v.filter(|s| !s.trim().is_empty())
        .map(|h| parse_hash(name, h))
        .transpose()
}

pub(super) fn parse_api_endpoint(v: &str) -> Result<Url, ConfigError> {
    let mut s = v.trim().to_string();
    // The original accepted a full listing URL and stripped it back to the base.
    if let Some(i) = s.find("/v1/definition/operator") {
        s.truncate(i);
    }
    let s = s.trim_end_matches('/');
    let s = s.strip_suffix("/v1").unwrap_or(s);
    let url = Url::parse(s).map_err(|e| bad(format!("API_ENDPOINT {v:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(format!("API_ENDPOINT {v:?} is not an http(s) URL")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!(
            "API_ENDPOINT {v:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

pub(super) fn parse_secs(name: &str, v: &str) -> Result<Duration, ConfigError> {
    let secs: f64 = v
        .trim()
        .parse()
        .map_err(|_| bad(format!("{name} {v:?} is not a number of seconds")))?;
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(bad(format!(
            "{name} {v:?} must be between 0 and 86400 seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub(super) fn parse_log_level(v: &str) -> Result<LogLevel, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "debug" | "trace" => Ok(LogLevel::Debug),
        "info" | "" => Ok(LogLevel::Info),
        "warn" | "warning" => Ok(LogLevel::Warn),
        "error" => Ok(LogLevel::Error),
        _ => Err(bad(format!(
            "LOG_LEVEL {v:?} is not one of DEBUG, INFO, WARN, ERROR"
        ))),
    }
}

pub(super) fn parse_bool(name: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" => Ok(true),
        "0" | "f" | "false" | "no" | "" => Ok(false),
        _ => Err(bad(format!("{name} {v:?} is not true or false"))),
    }
}

/// Parses a Go duration string (`300ms`, `1.5s`, `2m`, `1h30m`; a bare number means seconds).
pub fn parse_go_duration(name: &str, v: &str) -> Result<Duration, ConfigError> {
    let err = || {
        bad(format!(
            "{name} {v:?} is not a duration (examples: 90s, 2m, 1m30s)"
        ))
    };
    let s = v.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs).ok_or_else(err);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let (num, tail) = rest.split_at(num_len);
        let n: f64 = num.parse().map_err(|_| err())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let mult = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += n * mult;
        rest = tail;
    }
    secs_to_duration(total).ok_or_else(err)
}

fn secs_to_duration(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..=7.0 * 86_400.0).contains(&secs))
        .then(|| Duration::from_secs_f64(secs))
}
