//! charon's exact bytes for definitions and locks
//! (`json.MarshalIndent(v, "", " ")` in Go struct field order), with every
//! hash recomputed first, as charon always writes them.

use crate::lock::cluster::definition::Definition;
use crate::lock::cluster::error::HashError;
use crate::lock::cluster::json::{self, Out};
use crate::lock::cluster::lockfile::{BuilderRegistration, DepositRecord, DistValidator, Lock};
use crate::lock::cluster::version::Version;

impl Definition {
    /// charon's bytes for this definition (`json.MarshalIndent(def, "", " ")`),
    /// with both hashes recomputed as charon always does.
    pub fn to_json(&self) -> Result<Vec<u8>, HashError> {
        Ok(json::write_indented(&self.to_out()?))
    }

    /// The JSON tree charon writes, hashes recomputed.
    pub(crate) fn to_out(&self) -> Result<Out, HashError> {
        let d = self.with_hashes()?;
        let v = d.version;
        let b64 = v.uses_base64();
        let mut m: Vec<(&'static str, Out)> = Vec::new();
        if !d.name.is_empty() {
            m.push(("name", Out::str(&d.name)));
        }
        if v.has_creator() {
            m.push((
                "creator",
                Out::Obj(vec![
                    ("address", Out::str(&d.creator.address)),
                    ("config_signature", Out::hex(&d.creator.config_signature)),
                ]),
            ));
        }
        let ops: Vec<Out> = d
            .operators
            .iter()
            .map(|op| {
                if b64 {
                    Out::Obj(vec![
                        ("address", Out::str(&op.address)),
                        ("enr", Out::str(&op.enr)),
                        ("nonce", Out::Num(0)),
                        (
                            "config_signature",
                            Out::base64(&op.config_signature, op.config_signature_null),
                        ),
                        (
                            "enr_signature",
                            Out::base64(&op.enr_signature, op.enr_signature_null),
                        ),
                    ])
                } else {
                    Out::Obj(vec![
                        ("address", Out::str(&op.address)),
                        ("enr", Out::str(&op.enr)),
                        ("config_signature", Out::hex(&op.config_signature)),
                        ("enr_signature", Out::hex(&op.enr_signature)),
                    ])
                }
            })
            .collect();
        m.push(("operators", nil_if_empty(ops)));
        m.push(("uuid", Out::str(&d.uuid)));
        m.push(("version", Out::str(v.as_str())));
        if !d.timestamp.is_empty() {
            m.push(("timestamp", Out::str(&d.timestamp)));
        }
        m.push(("num_validators", Out::Num(d.num_validators)));
        m.push(("threshold", Out::Num(d.threshold)));
        if v.has_validator_list() {
            let vals = d
                .validators
                .iter()
                .map(|a| {
                    Out::Obj(vec![
                        ("fee_recipient_address", Out::str(&a.fee_recipient_address)),
                        ("withdrawal_address", Out::str(&a.withdrawal_address)),
                    ])
                })
                .collect();
            m.push(("validators", nil_if_empty(vals)));
        } else {
            let a = d.effective_legacy_addresses();
            if !a.fee_recipient_address.is_empty() {
                m.push(("fee_recipient_address", Out::Str(a.fee_recipient_address)));
            }
            if !a.withdrawal_address.is_empty() {
                m.push(("withdrawal_address", Out::Str(a.withdrawal_address)));
            }
        }
        m.push(("dkg_algorithm", Out::str(&d.dkg_algorithm)));
        m.push(("fork_version", Out::hex(&d.fork_version)));
        if v.has_partial_deposits() {
            m.push((
                "deposit_amounts",
                match &d.deposit_amounts {
                    None => Out::Null,
                    Some(a) => Out::Arr(a.iter().map(|x| Out::Str(x.to_string())).collect()),
                },
            ));
        }
        if v.has_consensus_protocol() {
            m.push(("consensus_protocol", Out::str(&d.consensus_protocol)));
        }
        if v.has_gas_limit_and_compounding() {
            m.push(("target_gas_limit", Out::Num(d.target_gas_limit)));
            m.push(("compounding", Out::Bool(d.compounding)));
        }
        if b64 {
            m.push(("config_hash", Out::base64(&d.config_hash, false)));
            m.push(("definition_hash", Out::base64(&d.definition_hash, false)));
        } else {
            m.push(("config_hash", Out::hex(&d.config_hash)));
            m.push(("definition_hash", Out::hex(&d.definition_hash)));
        }
        Ok(Out::Obj(m))
    }
}

impl Lock {
    /// charon's bytes for this lock (`json.MarshalIndent(lock, "", " ")`) with all
    /// hashes recomputed, as charon always does.
    pub fn to_json(&self) -> Result<Vec<u8>, HashError> {
        // The lock hash covers the stored config hash, so charon computes it
        // before the embedded definition's hashes are refreshed.
        let lock_hash = self.lock_hash()?;
        let v = self.definition.version;
        let b64 = v.uses_base64();
        let dvs: Vec<Out> = self
            .validators
            .iter()
            .map(|dv| validator_out(dv, v))
            .collect();
        let mut m = vec![
            ("cluster_definition", self.definition.to_out()?),
            ("distributed_validators", nil_if_empty(dvs)),
        ];
        if b64 {
            m.push((
                "signature_aggregate",
                Out::base64(&self.signature_aggregate, self.signature_aggregate_null),
            ));
            m.push(("lock_hash", Out::base64(&lock_hash, false)));
        } else {
            m.push(("signature_aggregate", Out::hex(&self.signature_aggregate)));
            m.push(("lock_hash", Out::hex(&lock_hash)));
        }
        if v.has_registrations() {
            m.push((
                "node_signatures",
                Out::Arr(self.node_signatures.iter().map(|s| Out::hex(s)).collect()),
            ));
        }
        Ok(json::write_indented(&Out::Obj(m)))
    }
}

/// A Go nil slice is written `null`.
pub(crate) fn nil_if_empty(items: Vec<Out>) -> Out {
    if items.is_empty() {
        Out::Null
    } else {
        Out::Arr(items)
    }
}

fn deposit_out(d: &DepositRecord) -> Out {
    Out::Obj(vec![
        ("pubkey", Out::hex(&d.pubkey)),
        (
            "withdrawal_credentials",
            Out::hex(&d.withdrawal_credentials),
        ),
        ("amount", Out::Str(d.amount.to_string())),
        ("signature", Out::hex(&d.signature)),
    ])
}

fn registration_out(r: &BuilderRegistration) -> Out {
    Out::Obj(vec![
        (
            "message",
            Out::Obj(vec![
                ("fee_recipient", Out::hex(&r.message.fee_recipient)),
                ("gas_limit", Out::Num(r.message.gas_limit)),
                ("timestamp", Out::Num(r.message.timestamp)),
                ("pubkey", Out::hex(&r.message.pubkey)),
            ]),
        ),
        ("signature", Out::hex(&r.signature)),
    ])
}

fn validator_out(dv: &DistValidator, v: Version) -> Out {
    let mut m = vec![("distributed_public_key", Out::hex(&dv.pubkey))];
    if !dv.public_shares.is_empty() {
        let shares = dv
            .public_shares
            .iter()
            .map(|s| {
                if v.uses_base64() {
                    Out::base64(s, false)
                } else {
                    Out::hex(s)
                }
            })
            .collect();
        m.push(("public_shares", Out::Arr(shares)));
    }
    if v.has_partial_deposits() {
        m.push((
            "builder_registration",
            registration_out(&dv.builder_registration),
        ));
        if !dv.deposit_data.is_empty() {
            m.push((
                "partial_deposit_data",
                Out::Arr(dv.deposit_data.iter().map(deposit_out).collect()),
            ));
        }
    } else if v.has_deposit_data() {
        let first = dv.deposit_data.first().cloned().unwrap_or_default();
        m.push(("deposit_data", deposit_out(&first)));
        if v.has_registrations() {
            m.push((
                "builder_registration",
                registration_out(&dv.builder_registration),
            ));
        }
    }
    Out::Obj(m)
}
