//! Which definitions are for this node, in which state, which are authorised,
//! and which one to use.
//!
//! A definition is ours when an operator entry carries our operator address
//! (case-insensitive) or, in ENR-mode definitions without addresses, our ENR.
//! Each definition is parsed once (`defn::parse_definition`) and classified on
//! its own, so one malformed or forged entry never hides the others. Among the
//! valid, authorised candidates the choice is deterministic and the same on
//! every node of a cluster: newest `timestamp` first, ties broken by the lowest
//! config hash ([`order`]).

use serde_json::Value;

use super::config::is_address;
use super::defn::{self, Definition};
/// Who we are, for matching operator entries.
#[derive(Debug, Clone)]
pub struct Me {
    /// Operator address (any case).
    pub operator_address: String,
    /// Our ENR string.
    pub enr: String,
    /// Our compressed secp256k1 public key, to match ENRs that differ in text.
    pub enr_pubkey: [u8; 33],
}

impl Me {
    /// Whether `enr` is ours: the same text, or the same node key.
    pub fn enr_matches(&self, enr: &str) -> bool {
        let enr = enr.trim();
        if enr.is_empty() {
            return false;
        }
        enr == self.enr.trim()
            || super::defn::enr_public_key(enr).is_ok_and(|k| k == self.enr_pubkey)
    }
}

/// The state of one definition with respect to this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Every operator signed (or an unsigned ENR-mode definition), ours with our ENR.
    Ready,
    /// We signed with our ENR; other operators have not yet.
    WaitingForOthers {
        /// Operators with both signatures.
        signed: usize,
        /// All operators.
        total: usize,
    },
    /// We are invited but have not accepted yet.
    NeedsOurAcceptance,
    /// Our operator accepted with a different ENR: this node cannot take part.
    EnrMismatch {
        /// The ENR our operator entry carries.
        found: String,
    },
    /// Not for this operator or ENR.
    NotOurs,
    /// Cannot be used: the reason.
    Malformed(String),
}

/// Text of an optional string field; missing, `null` and `""` are all empty.
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
}

/// The `config_hash` field of a served JSON definition, lower-cased, if it is
/// well-formed. Only for routing (the fake API, de-duplicating pages): what
/// the sidecar checks and signs comes from the typed parse.
pub fn config_hash(def: &Value) -> Option<String> {
    let h = text(def, "config_hash");
    let hex = h.strip_prefix("0x")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

fn signed(op: &crate::lock::definition::Operator) -> bool {
    !op.enr_signature.is_empty() && !op.config_signature.is_empty()
}

/// Classifies one parsed definition for `me`.
pub fn classify(def: &Definition, me: &Me) -> Status {
    if def.config_hash.len() != 32 {
        return Status::Malformed("missing or malformed config_hash".into());
    }
    let ops = &def.operators;
    if ops.is_empty() {
        return Status::Malformed("no operators".into());
    }
    let total = ops.len();
    let n_signed = ops.iter().filter(|o| signed(o)).count();
    let by_address: Vec<_> = ops
        .iter()
        .filter(|o| {
            let a = o.address.trim();
            is_address(a) && a.eq_ignore_ascii_case(me.operator_address.trim())
        })
        .collect();

    if by_address.is_empty() {
        // ENR-mode definitions have no addresses: we are in them by ENR alone.
        let enr_mode = ops.iter().all(|o| o.address.trim().is_empty());
        if enr_mode && ops.iter().any(|o| me.enr_matches(&o.enr)) {
            return if n_signed == 0 {
                Status::Ready
            } else {
                Status::Malformed("ENR-mode definition with operator signatures".into())
            };
        }
        return Status::NotOurs;
    }

    // Prefer an entry that already carries our ENR, then one still open.
    if let Some(mine) = by_address.iter().find(|o| me.enr_matches(&o.enr)) {
        if !signed(mine) {
            return Status::NeedsOurAcceptance;
        }
        return if n_signed == total {
            Status::Ready
        } else {
            Status::WaitingForOthers {
                signed: n_signed,
                total,
            }
        };
    }
    if by_address
        .iter()
        .any(|o| o.enr.trim().is_empty() || !signed(o))
    {
        return Status::NeedsOurAcceptance;
    }
    Status::EnrMismatch {
        found: by_address
            .first()
            .map(|o| bounded(&o.enr))
            .unwrap_or_default(),
    }
}

/// Sorts JSON definitions newest first by `timestamp` (RFC 3339); entries
/// without a readable timestamp go last, keeping API order among equals. The
/// fake API serves its listing in this order.
pub fn newest_first(defs: &mut [Value]) {
    defs.sort_by_cached_key(|d| std::cmp::Reverse(millis(text(d, "timestamp"))));
}

fn millis(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The sort key of [`order`]: newest first, unreadable timestamps last, then
/// the lowest config hash. Only signed content goes in, so every node of a
/// cluster orders the same definitions the same way.
pub fn order_key(d: &Definition) -> (std::cmp::Reverse<Option<i64>>, Vec<u8>) {
    (
        std::cmp::Reverse(millis(&d.timestamp)),
        d.config_hash.clone(),
    )
}

/// Sorts candidates into the sidecar's deterministic preference order.
pub fn order<T>(items: &mut [T], def: impl Fn(&T) -> &Definition) {
    items.sort_by_cached_key(|t| order_key(def(t)));
}

/// Which definitions the user authorised: `TARGET_CONFIG_HASH`, creators in
/// `ACCEPT_INVITATIONS_FROM`, or neither (then every verified definition
/// that a human signed on the Launchpad qualifies, and nothing is signed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Lower-case `0x` config hash.
    pub target_config_hash: Option<String>,
    /// Lower-case `0x` creator addresses.
    pub creators: Vec<String>,
}

impl Policy {
    /// Whether any restriction was configured.
    pub fn is_set(&self) -> bool {
        self.target_config_hash.is_some() || !self.creators.is_empty()
    }

    /// Whether the user pinned this exact definition.
    pub fn pinned(&self, d: &Definition) -> bool {
        self.target_config_hash
            .as_deref()
            .is_some_and(|t| t == defn::config_hash_hex(d))
    }

    /// `Ok` when `d` (whose creator signature has been verified) is authorised;
    /// otherwise why not. Without any policy everything is authorised.
    pub fn check(&self, d: &Definition) -> Result<(), String> {
        if !self.is_set() || self.pinned(d) {
            return Ok(());
        }
        let creator = d.creator.address.trim();
        if !creator.is_empty()
            && self
                .creators
                .iter()
                .any(|c| c.eq_ignore_ascii_case(creator))
        {
            return Ok(());
        }
        Err(match (&self.target_config_hash, self.creators.is_empty()) {
            (Some(t), true) => format!("it is not TARGET_CONFIG_HASH {t}"),
            _ => format!(
                "its creator {} is not in ACCEPT_INVITATIONS_FROM",
                if creator.is_empty() {
                    "(none)".to_string()
                } else {
                    bounded(creator)
                }
            ),
        })
    }
}

/// At most this many characters of API- or peer-controlled text go into a log line.
pub const MAX_LOGGED_CHARS: usize = 200;

/// `s` made safe for one log line: control characters (newlines that could
/// forge log lines) replaced, and cut to [`MAX_LOGGED_CHARS`].
pub fn bounded(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_LOGGED_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_LOGGED_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// One line describing a definition for logs.
pub fn describe(def: &Definition) -> String {
    format!(
        "{} ({:?}, created {})",
        bounded(&defn::config_hash_hex(def)),
        bounded(&def.name),
        match def.timestamp.trim() {
            "" => "at an unknown time".to_string(),
            t => bounded(t),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::defn;
    use serde_json::json;

    fn me() -> Me {
        let key = defn::parse_secret_key(&hex::encode([7u8; 32])).unwrap();
        Me {
            operator_address: "0xAbCdEf0000000000000000000000000000000001".into(),
            enr: defn::enr_from_key(&key).unwrap(),
            enr_pubkey: defn::public_key(&key),
        }
    }

    fn raw(ops: Value) -> Value {
        json!({"version": "v1.10.0", "config_hash": format!("0x{}", "ab".repeat(32)), "operators": ops})
    }

    fn def(ops: Value) -> Definition {
        defn::parse_definition(&raw(ops)).unwrap()
    }

    fn op(addr: &str, enr: &str, signed: bool) -> Value {
        let s = if signed { "0x01" } else { "" };
        json!({"address": addr, "enr": enr, "config_signature": s, "enr_signature": s})
    }

    #[test]
    fn classification() {
        let m = me();
        let ours = "0xabcdef0000000000000000000000000000000001";
        let other = "0x0000000000000000000000000000000000000002";
        let other_key = defn::parse_secret_key(&hex::encode([8u8; 32])).unwrap();
        let other_enr = defn::enr_from_key(&other_key).unwrap();
        let cases = [
            (
                def(json!([op(ours, &m.enr, true), op(other, "enr:x", true)])),
                Status::Ready,
            ),
            (
                def(json!([op(ours, &m.enr, true), op(other, "", false)])),
                Status::WaitingForOthers {
                    signed: 1,
                    total: 2,
                },
            ),
            (
                def(json!([op(ours, "", false), op(other, "enr:x", true)])),
                Status::NeedsOurAcceptance,
            ),
            (
                def(json!([
                    op(ours, &other_enr, true),
                    op(other, "enr:x", true)
                ])),
                Status::EnrMismatch {
                    found: other_enr.clone(),
                },
            ),
            (def(json!([op(other, &m.enr, true)])), Status::NotOurs),
            (
                def(json!([op("", &m.enr, false), op("", &other_enr, false)])),
                Status::Ready,
            ),
            (def(json!([op("", &other_enr, false)])), Status::NotOurs),
            // A null address next to ours does not hide ours.
            (
                def(json!([{"address": null, "enr": null}, op(ours, "", false)])),
                Status::NeedsOurAcceptance,
            ),
            // Missing signature fields count as unsigned.
            (
                def(json!([{"address": ours, "enr": m.enr}])),
                Status::NeedsOurAcceptance,
            ),
        ];
        for (i, (d, want)) in cases.into_iter().enumerate() {
            assert_eq!(classify(&d, &m), want, "case {i}");
        }
        for bad in [
            json!(null),
            json!({"version": "v1.10.0", "operators": []}),
            json!({"version": "v1.10.0", "config_hash": "0x12", "operators": [op(ours, "", false)]}),
            raw(json!([])),
            raw(json!(["x"])),
            raw(json!({})),
            json!({"config_hash": format!("0x{}", "ab".repeat(32)), "operators": [op(ours, "", false)]}),
        ] {
            let malformed = defn::parse_definition(&bad)
                .map(|d| matches!(classify(&d, &m), Status::Malformed(_)))
                .unwrap_or(true);
            assert!(malformed, "{bad}");
        }
    }

    /// The typed parse is charon's: a later case-variant key wins, so the
    /// hash the sidecar classifies and signs is the one verification saw.
    #[test]
    fn duplicate_keys_read_as_charon_reads_them() {
        let real = format!("0x{}", "cd".repeat(32));
        let bytes = format!(
            r#"{{"version":"v1.10.0","config_hash":"0x{}","Config_Hash":"{real}","operators":[]}}"#,
            "ee".repeat(32)
        );
        let d = defn::parse_definition_bytes(bytes.as_bytes()).unwrap();
        assert_eq!(defn::config_hash_hex(&d), real);
    }

    #[test]
    fn enr_matching_by_key() {
        let m = me();
        assert!(m.enr_matches(&format!("  {}\n", m.enr)));
        assert!(!m.enr_matches(""));
        assert!(!m.enr_matches("enr:garbage"));
    }

    #[test]
    fn newest_first_ordering() {
        let mut v = vec![
            json!({"timestamp": "2026-01-01T00:00:00Z", "n": 1}),
            json!({"timestamp": "garbage", "n": 2}),
            json!({"timestamp": "2026-03-01T00:00:00.123Z", "n": 3}),
            json!({"n": 4}),
            json!({"timestamp": "2026-02-01T00:00:00+01:00", "n": 5}),
        ];
        newest_first(&mut v);
        let order: Vec<u64> = v.iter().map(|d| d["n"].as_u64().unwrap()).collect();
        assert_eq!(order, [3, 5, 1, 2, 4]);
    }

    #[test]
    fn order_breaks_timestamp_ties_by_config_hash() {
        let mk = |ts: &str, h: u8| {
            defn::parse_definition(&json!({
                "version": "v1.10.0", "timestamp": ts,
                "config_hash": format!("0x{}", hex::encode([h; 32])),
            }))
            .unwrap()
        };
        let t = "2026-01-01T00:00:00Z";
        let mut v = vec![
            mk(t, 9),
            mk("x", 1),
            mk(t, 3),
            mk("2026-02-01T00:00:00Z", 7),
        ];
        let mut w = v.clone();
        w.reverse();
        order(&mut v, |d| d);
        order(&mut w, |d| d);
        let hashes = |v: &[Definition]| v.iter().map(|d| d.config_hash[0]).collect::<Vec<_>>();
        assert_eq!(hashes(&v), [7, 3, 9, 1]);
        assert_eq!(hashes(&v), hashes(&w), "input order does not matter");
    }

    #[test]
    fn policy() {
        let d = defn::parse_definition(&json!({
            "version": "v1.10.0",
            "config_hash": format!("0x{}", "ab".repeat(32)),
            "creator": {"address": "0xAbCdEf0000000000000000000000000000000009"},
        }))
        .unwrap();
        assert!(Policy::default().check(&d).is_ok());
        let by_creator = Policy {
            target_config_hash: None,
            creators: vec!["0xabcdef0000000000000000000000000000000009".into()],
        };
        assert!(by_creator.check(&d).is_ok());
        let other = Policy {
            target_config_hash: None,
            creators: vec!["0x0000000000000000000000000000000000000001".into()],
        };
        assert!(
            other
                .check(&d)
                .unwrap_err()
                .contains("ACCEPT_INVITATIONS_FROM")
        );
        let pinned = Policy {
            target_config_hash: Some(format!("0x{}", "ab".repeat(32))),
            creators: vec![],
        };
        assert!(pinned.pinned(&d) && pinned.check(&d).is_ok());
        let elsewhere = Policy {
            target_config_hash: Some(format!("0x{}", "cd".repeat(32))),
            creators: vec![],
        };
        assert!(
            elsewhere
                .check(&d)
                .unwrap_err()
                .contains("TARGET_CONFIG_HASH")
        );
    }

    #[test]
    fn bounded_log_text() {
        assert_eq!(bounded("a\nb"), "a b");
        let long = "x".repeat(1000);
        assert_eq!(bounded(&long).chars().count(), MAX_LOGGED_CHARS + 1);
    }
}
