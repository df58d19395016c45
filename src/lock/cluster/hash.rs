//! `config_hash`, `definition_hash` and `lock_hash` for every version, with the
//! layouts (and bugs) of charon's `cluster/ssz.go`, and the `Definition` /
//! `Lock` methods that expose them.

use crate::lock::cluster::definition::Definition;
use crate::lock::cluster::error::HashError;
use crate::lock::cluster::json::to_0x_hex;
use crate::lock::cluster::lockfile::{BuilderRegistration, DepositRecord, DistValidator, Lock};
use crate::lock::cluster::ssz::{Hasher, from_0x_hex};
use crate::lock::cluster::version::Version;

/// Maximum operators (SSZ list limit).
const MAX_OPERATORS: u64 = 256;
/// Maximum validators in v1.3+ layouts (SSZ list limit): no cluster can
/// have more, since its definition would have no hash.
pub(crate) const MAX_VALIDATORS: u64 = 65536;
/// Maximum signatures in a v1.11 signature list.
const MAX_K1_SIGS: u64 = 32;

/// The config (`config_only`) or definition root of `d`.
pub(crate) fn definition_root(d: &Definition, config_only: bool) -> Result<[u8; 32], HashError> {
    let mut h = Hasher::new();
    put_definition(&mut h, d, config_only)?;
    h.root()
}

/// The lock hash of `l`.
pub(crate) fn lock_root(l: &Lock) -> Result<[u8; 32], HashError> {
    let mut h = Hasher::new();
    let idx = h.index();
    put_definition(&mut h, &l.definition, false)?;
    let v = l.definition.version;
    let sub = h.index();
    let n = l.validators.len() as u64;
    for (i, dv) in l.validators.iter().enumerate() {
        put_validator(&mut h, dv, v, i)?;
    }
    let limit = if v <= Version::V1_2 {
        n
    } else {
        MAX_VALIDATORS
    };
    h.merkleize_with_mixin(sub, n, limit, "distributed_validators")?;
    h.merkleize(idx);
    h.root()
}

fn put_definition(h: &mut Hasher, d: &Definition, config_only: bool) -> Result<(), HashError> {
    match d.version {
        Version::V1_0 | Version::V1_1 | Version::V1_2 => put_definition_legacy(h, d, config_only),
        Version::V1_3 | Version::V1_4 => put_definition_v1x3or4(h, d, config_only),
        _ => put_definition_v1x5(h, d, config_only),
    }
}

fn addr20(s: &str, field: &str) -> Result<Vec<u8>, HashError> {
    from_0x_hex(s, 20).map_err(|e| HashError::new(field, e))
}

fn put_definition_legacy(
    h: &mut Hasher,
    d: &Definition,
    config_only: bool,
) -> Result<(), HashError> {
    let idx = h.index();
    h.put_bytes(d.uuid.as_bytes());
    h.put_bytes(d.name.as_bytes());
    h.put_bytes(d.version.as_str().as_bytes());
    h.put_u64(d.num_validators);
    h.put_u64(d.threshold);
    let a = d.effective_legacy_addresses();
    h.put_bytes(a.fee_recipient_address.as_bytes());
    h.put_bytes(a.withdrawal_address.as_bytes());
    h.put_bytes(d.dkg_algorithm.as_bytes());
    h.put_bytes(to_0x_hex(&d.fork_version).as_bytes());

    let sub = h.index();
    for op in &d.operators {
        if config_only {
            h.put_bytes(op.address.as_bytes());
        } else {
            let oidx = h.index();
            h.put_bytes(op.address.as_bytes());
            h.put_bytes(op.enr.as_bytes());
            if d.version <= Version::V1_1 {
                h.put_u64(0);
            }
            h.put_bytes(&op.config_signature);
            h.put_bytes(&op.enr_signature);
            h.merkleize(oidx);
        }
    }
    let n = d.operators.len() as u64;
    h.merkleize_with_mixin(sub, n, n, "operators")?;

    if config_only || d.version != Version::V1_0 {
        h.put_bytes(d.timestamp.as_bytes());
    }
    h.merkleize(idx);
    Ok(())
}

fn put_common_strings(h: &mut Hasher, d: &Definition) -> Result<(), HashError> {
    h.put_byte_list(d.uuid.as_bytes(), 64, "uuid")?;
    h.put_byte_list(d.name.as_bytes(), 256, "name")?;
    h.put_byte_list(d.version.as_str().as_bytes(), 16, "version")?;
    h.put_byte_list(d.timestamp.as_bytes(), 32, "timestamp")
}

fn put_definition_v1x3or4(
    h: &mut Hasher,
    d: &Definition,
    config_only: bool,
) -> Result<(), HashError> {
    let idx = h.index();
    put_common_strings(h, d)?;
    h.put_u64(d.num_validators);
    h.put_u64(d.threshold);
    let a = d.effective_legacy_addresses();
    h.put_bytes(&addr20(&a.fee_recipient_address, "fee_recipient_address")?);
    h.put_bytes(&addr20(&a.withdrawal_address, "withdrawal_address")?);
    h.put_byte_list(d.dkg_algorithm.as_bytes(), 32, "dkg_algorithm")?;
    h.put_bytes(&d.fork_version);

    let sub = h.index();
    for (i, op) in d.operators.iter().enumerate() {
        let oidx = h.index();
        h.put_bytes(&addr20(&op.address, &format!("operators[{i}].address"))?);
        if !config_only {
            h.put_byte_list(op.enr.as_bytes(), 1024, &format!("operators[{i}].enr"))?;
            h.put_bytes(&op.config_signature);
            h.put_bytes(&op.enr_signature);
        }
        h.merkleize(oidx);
    }
    h.merkleize_with_mixin(sub, d.operators.len() as u64, MAX_OPERATORS, "operators")?;

    if d.version == Version::V1_4 {
        let cidx = h.index();
        h.put_bytes(&addr20(&d.creator.address, "creator.address")?);
        if !config_only {
            h.put_bytes(&d.creator.config_signature);
        }
        h.merkleize(cidx);
    }
    if !config_only {
        h.put_bytes(&d.config_hash);
    }
    h.merkleize(idx);
    Ok(())
}

fn put_sig(h: &mut Hasher, v: Version, sig: &[u8], field: &str) -> Result<(), HashError> {
    if v >= Version::V1_11 {
        h.put_k1_sig_list(sig, MAX_K1_SIGS, field)
    } else {
        h.put_bytes_n(sig, 65, field)
    }
}

fn put_definition_v1x5(h: &mut Hasher, d: &Definition, config_only: bool) -> Result<(), HashError> {
    let v = d.version;
    let idx = h.index();
    put_common_strings(h, d)?;
    h.put_u64(d.num_validators);
    h.put_u64(d.threshold);
    h.put_byte_list(d.dkg_algorithm.as_bytes(), 32, "dkg_algorithm")?;
    h.put_bytes_n(&d.fork_version, 4, "fork_version")?;

    let sub = h.index();
    for (i, op) in d.operators.iter().enumerate() {
        let oidx = h.index();
        h.put_hex_bytes20(&op.address, &format!("operators[{i}].address"))?;
        if !config_only {
            h.put_byte_list(op.enr.as_bytes(), 1024, &format!("operators[{i}].enr"))?;
            put_sig(
                h,
                v,
                &op.config_signature,
                &format!("operators[{i}].config_signature"),
            )?;
            put_sig(
                h,
                v,
                &op.enr_signature,
                &format!("operators[{i}].enr_signature"),
            )?;
        }
        h.merkleize(oidx);
    }
    h.merkleize_with_mixin(sub, d.operators.len() as u64, MAX_OPERATORS, "operators")?;

    let cidx = h.index();
    h.put_hex_bytes20(&d.creator.address, "creator.address")?;
    if !config_only {
        put_sig(
            h,
            v,
            &d.creator.config_signature,
            "creator.config_signature",
        )?;
    }
    h.merkleize(cidx);

    let sub = h.index();
    for (i, a) in d.validators.iter().enumerate() {
        let vidx = h.index();
        h.put_hex_bytes20(
            &a.fee_recipient_address,
            &format!("validators[{i}].fee_recipient_address"),
        )?;
        h.put_hex_bytes20(
            &a.withdrawal_address,
            &format!("validators[{i}].withdrawal_address"),
        )?;
        h.merkleize(vidx);
    }
    h.merkleize_with_mixin(sub, d.validators.len() as u64, MAX_VALIDATORS, "validators")?;

    if v.has_partial_deposits() {
        let amounts = d.deposit_amounts.as_deref().unwrap_or_default();
        h.put_u64_list(amounts, 256, "deposit_amounts")?;
    }
    if v.has_consensus_protocol() {
        h.put_byte_list(d.consensus_protocol.as_bytes(), 256, "consensus_protocol")?;
    }
    if v.has_gas_limit_and_compounding() {
        h.put_u64(d.target_gas_limit);
        h.put_bool(d.compounding);
    }
    if !config_only {
        if v >= Version::V1_11 {
            h.put_bytes(&d.config_hash);
        } else {
            h.put_bytes_n(&d.config_hash, 32, "config_hash")?;
        }
    }
    h.merkleize(idx);
    Ok(())
}

fn put_validator(
    h: &mut Hasher,
    dv: &DistValidator,
    v: Version,
    i: usize,
) -> Result<(), HashError> {
    let field = |name: &str| format!("distributed_validators[{i}].{name}");
    let vidx = h.index();
    if v <= Version::V1_2 {
        h.put_bytes(to_0x_hex(&dv.pubkey).as_bytes());
        let sidx = h.index();
        for s in &dv.public_shares {
            h.put_bytes(s);
        }
        let n = dv.public_shares.len() as u64;
        h.merkleize_with_mixin(sidx, n, n, &field("public_shares"))?;
        h.merkleize(vidx);
        return Ok(());
    }

    if v <= Version::V1_4 {
        h.put_bytes(&dv.pubkey);
    } else {
        h.put_bytes_n(&dv.pubkey, 48, &field("distributed_public_key"))?;
    }
    let sidx = h.index();
    for s in &dv.public_shares {
        h.put_bytes_n(s, 48, &field("public_shares"))?;
    }
    h.merkleize_with_mixin(
        sidx,
        dv.public_shares.len() as u64,
        MAX_OPERATORS,
        &field("public_shares"),
    )?;

    match v {
        Version::V1_3 | Version::V1_4 | Version::V1_5 => {}
        Version::V1_6 => {
            // charon bug kept for compatibility: the deposit fields are appended
            // inline instead of as a merkleized container.
            let dd = dv.deposit_data.first().cloned().unwrap_or_default();
            put_deposit_fields(h, &dd, &field("deposit_data"))?;
        }
        Version::V1_7 => {
            let dd = dv.deposit_data.first().cloned().unwrap_or_default();
            put_deposit(h, &dd, &field("deposit_data"))?;
            put_registration(h, &dv.builder_registration, &field("builder_registration"))?;
        }
        _ => {
            let sub = h.index();
            for (j, dd) in dv.deposit_data.iter().enumerate() {
                put_deposit(h, dd, &field(&format!("partial_deposit_data[{j}]")))?;
            }
            h.merkleize_with_mixin(
                sub,
                dv.deposit_data.len() as u64,
                256,
                &field("partial_deposit_data"),
            )?;
            put_registration(h, &dv.builder_registration, &field("builder_registration"))?;
        }
    }
    h.merkleize(vidx);
    Ok(())
}

fn put_deposit_fields(h: &mut Hasher, dd: &DepositRecord, field: &str) -> Result<(), HashError> {
    h.put_bytes_n(&dd.pubkey, 48, &format!("{field}.pubkey"))?;
    h.put_bytes_n(
        &dd.withdrawal_credentials,
        32,
        &format!("{field}.withdrawal_credentials"),
    )?;
    h.put_u64(dd.amount);
    h.put_bytes_n(&dd.signature, 96, &format!("{field}.signature"))
}

fn put_deposit(h: &mut Hasher, dd: &DepositRecord, field: &str) -> Result<(), HashError> {
    let idx = h.index();
    put_deposit_fields(h, dd, field)?;
    h.merkleize(idx);
    Ok(())
}

fn put_registration(h: &mut Hasher, r: &BuilderRegistration, field: &str) -> Result<(), HashError> {
    let idx = h.index();
    let midx = h.index();
    h.put_bytes(&r.message.fee_recipient);
    h.put_u64(r.message.gas_limit);
    h.put_u64(r.message.timestamp);
    h.put_bytes_n(&r.message.pubkey, 48, &format!("{field}.message.pubkey"))?;
    h.merkleize(midx);
    h.put_bytes_n(&r.signature, 96, &format!("{field}.signature"))?;
    h.merkleize(idx);
    Ok(())
}

impl Definition {
    /// The recomputed config hash (over the fields operators sign).
    pub fn config_hash(&self) -> Result<[u8; 32], HashError> {
        definition_root(self, true)
    }

    /// The recomputed definition hash (uses the stored `config_hash` from v1.3).
    pub fn definition_hash(&self) -> Result<[u8; 32], HashError> {
        definition_root(self, false)
    }

    /// A copy with `config_hash` and `definition_hash` recomputed, as charon's
    /// `SetDefinitionHashes` does.
    pub fn with_hashes(&self) -> Result<Definition, HashError> {
        let mut d = self.clone();
        d.config_hash = d.config_hash()?.to_vec();
        d.definition_hash = d.definition_hash()?.to_vec();
        Ok(d)
    }
}

impl Lock {
    /// The recomputed lock hash.
    pub fn lock_hash(&self) -> Result<[u8; 32], HashError> {
        lock_root(self)
    }

    /// A copy with definition hashes and the lock hash recomputed.
    pub fn with_hashes(&self) -> Result<Lock, HashError> {
        let mut l = self.clone();
        l.definition = l.definition.with_hashes()?;
        l.lock_hash = l.lock_hash()?.to_vec();
        Ok(l)
    }
}
