//! Which definitions are for this node, and in which state.
//!
//! A definition is ours when an operator entry carries our operator address
//! (case-insensitive) or, in ENR-mode definitions without addresses, our ENR.
//! Each definition is classified on its own, so one malformed entry never hides
//! the others (the original aborted the page on a `null` address). Ordering is
//! newest first by `timestamp`. Cryptographic verification is not done here:
//! a `Ready` definition still goes through `defn::verify_definition`.

use serde_json::Value;

use super::config::is_address;

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
    /// Every operator signed (or an ENR-mode definition), ours with our ENR.
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

/// The definition's `config_hash`, lower-cased, if it is well-formed.
pub fn config_hash(def: &Value) -> Option<String> {
    let h = text(def, "config_hash");
    let hex = h.strip_prefix("0x")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

fn signed(op: &Value) -> bool {
    !text(op, "enr_signature").is_empty() && !text(op, "config_signature").is_empty()
}

/// Classifies one definition for `me`.
pub fn classify(def: &Value, me: &Me) -> Status {
    if !def.is_object() {
        return Status::Malformed("not a JSON object".into());
    }
    if config_hash(def).is_none() {
        return Status::Malformed("missing or malformed config_hash".into());
    }
    let Some(ops) = def.get("operators").and_then(Value::as_array) else {
        return Status::Malformed("no operators array".into());
    };
    if ops.is_empty() {
        return Status::Malformed("no operators".into());
    }
    if ops.iter().any(|o| !o.is_object()) {
        return Status::Malformed("an operator entry is not an object".into());
    }
    let total = ops.len();
    let n_signed = ops.iter().filter(|o| signed(o)).count();
    let by_address: Vec<&Value> = ops
        .iter()
        .filter(|o| {
            let a = text(o, "address");
            is_address(a) && a.eq_ignore_ascii_case(me.operator_address.trim())
        })
        .collect();

    if by_address.is_empty() {
        // ENR-mode definitions have no addresses: we are in them by ENR alone.
        let enr_mode = ops.iter().all(|o| text(o, "address").is_empty());
        if enr_mode && ops.iter().any(|o| me.enr_matches(text(o, "enr"))) {
            return if n_signed == 0 {
                Status::Ready
            } else {
                Status::Malformed("ENR-mode definition with operator signatures".into())
            };
        }
        return Status::NotOurs;
    }

    // Prefer an entry that already carries our ENR, then one still open.
    if let Some(mine) = by_address.iter().find(|o| me.enr_matches(text(o, "enr"))) {
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
        .any(|o| text(o, "enr").is_empty() || !signed(o))
    {
        return Status::NeedsOurAcceptance;
    }
    Status::EnrMismatch {
        found: by_address
            .first()
            .map(|o| text(o, "enr").to_string())
            .unwrap_or_default(),
    }
}

/// Sorts definitions newest first by `timestamp` (RFC 3339); entries without a
/// readable timestamp go last, keeping API order among equals.
pub fn newest_first(defs: &mut [Value]) {
    defs.sort_by_cached_key(|d| {
        let ts = chrono::DateTime::parse_from_rfc3339(text(d, "timestamp"))
            .map(|t| t.timestamp_millis())
            .unwrap_or(i64::MIN);
        std::cmp::Reverse(ts)
    });
}

/// One line describing a definition for logs.
pub fn describe(def: &Value) -> String {
    format!(
        "{} ({:?}, created {})",
        config_hash(def).unwrap_or_else(|| "<no config_hash>".into()),
        text(def, "name"),
        match text(def, "timestamp") {
            "" => "at an unknown time",
            t => t,
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

    fn def(ops: Value) -> Value {
        json!({"config_hash": format!("0x{}", "ab".repeat(32)), "operators": ops})
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
            json!({"operators": []}),
            json!({"config_hash": "0x12", "operators": [op(ours, "", false)]}),
            def(json!([])),
            def(json!(["x"])),
            def(json!({})),
        ] {
            assert!(matches!(classify(&bad, &m), Status::Malformed(_)), "{bad}");
        }
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
}
