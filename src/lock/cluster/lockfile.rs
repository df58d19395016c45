//! The cluster lock (`cluster-lock.json`) of every version: the model and reading
//! it as charon does. Its hash is in `hash`, charon's bytes for it in `write`.

use crate::lock::cluster::definition::Definition;
use crate::lock::cluster::error::ParseError;
use crate::lock::cluster::json::{self, Field, Obj};
use crate::lock::cluster::version::Version;
use crate::lock::eth::consensus::DepositData;

/// A deposit as recorded in the lock (`deposit_data` / `partial_deposit_data`).
///
/// Not the consensus [`DepositData`] container: byte fields are kept as read,
/// of any length, because the lock's hash, its written bytes and the verdict
/// on a malformed file all depend on what the file held. An empty deposit
/// (v1.6/v1.7 locks from tests) is all empty strings with amount 0. Convert
/// with [`DepositData::try_from`] where the fixed-size container is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepositRecord {
    /// Validator public key (48 bytes).
    pub pubkey: Vec<u8>,
    /// Withdrawal credentials (32 bytes).
    pub withdrawal_credentials: Vec<u8>,
    /// Amount in gwei.
    pub amount: u64,
    /// BLS signature by the validator key (96 bytes).
    pub signature: Vec<u8>,
}

/// A [`DepositRecord`] byte field whose length is not the container's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadDepositField {
    /// The field's JSON name (`pubkey`, `withdrawal_credentials`, `signature`).
    pub field: &'static str,
    /// Its length as read, in bytes.
    pub len: usize,
}

impl TryFrom<&DepositRecord> for DepositData {
    type Error = BadDepositField;

    /// Fails on the first field (in container order) of the wrong length.
    fn try_from(d: &DepositRecord) -> Result<DepositData, BadDepositField> {
        fn fixed<const N: usize>(
            field: &'static str,
            b: &[u8],
        ) -> Result<[u8; N], BadDepositField> {
            b.try_into().map_err(|_| BadDepositField {
                field,
                len: b.len(),
            })
        }
        Ok(DepositData {
            pubkey: fixed("pubkey", &d.pubkey)?,
            withdrawal_credentials: fixed("withdrawal_credentials", &d.withdrawal_credentials)?,
            amount: d.amount,
            signature: fixed("signature", &d.signature)?,
        })
    }
}

impl From<&DepositData> for DepositRecord {
    fn from(d: &DepositData) -> DepositRecord {
        DepositRecord {
            pubkey: d.pubkey.to_vec(),
            withdrawal_credentials: d.withdrawal_credentials.to_vec(),
            amount: d.amount,
            signature: d.signature.to_vec(),
        }
    }
}

/// The message of a pre-generated builder registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationMessage {
    /// Fee recipient (20 bytes).
    pub fee_recipient: Vec<u8>,
    /// Gas limit.
    pub gas_limit: u64,
    /// Unix seconds.
    pub timestamp: u64,
    /// Validator public key (48 bytes).
    pub pubkey: Vec<u8>,
}

/// A signed builder registration (v1.7+).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuilderRegistration {
    /// The registration.
    pub message: RegistrationMessage,
    /// BLS signature by the validator key (96 bytes).
    pub signature: Vec<u8>,
}

impl BuilderRegistration {
    /// charon treats a registration missing any of these as absent.
    pub fn is_missing(&self) -> bool {
        self.signature.is_empty()
            || self.message.fee_recipient.is_empty()
            || self.message.pubkey.is_empty()
    }
}

/// One distributed validator of a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistValidator {
    /// The group public key (48 bytes).
    pub pubkey: Vec<u8>,
    /// Public key share of each operator, in operator order.
    pub public_shares: Vec<Vec<u8>>,
    /// Deposits: exactly one in v1.6/v1.7 (possibly empty), one per distinct
    /// amount ascending from v1.8, none before v1.6.
    pub deposit_data: Vec<DepositRecord>,
    /// The pre-generated builder registration (v1.7+; zero before).
    pub builder_registration: BuilderRegistration,
}

/// A cluster lock of any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The cluster definition the lock was made from.
    pub definition: Definition,
    /// The distributed validators, in order.
    pub validators: Vec<DistValidator>,
    /// Aggregate BLS signature of every share over the lock hash (96 bytes).
    pub signature_aggregate: Vec<u8>,
    /// v1.0/v1.1 only: `signature_aggregate` was JSON `null`.
    pub signature_aggregate_null: bool,
    /// The lock hash as stored in the file.
    pub lock_hash: Vec<u8>,
    /// One k1 signature of the lock hash per operator (v1.7+).
    pub node_signatures: Vec<Vec<u8>>,
}

impl Lock {
    /// Reads a `cluster-lock.json` as charon does. Hashes are not checked here.
    pub fn from_json(bytes: &[u8]) -> Result<Lock, ParseError> {
        let v = json::parse(bytes)?;
        let top = Obj::new(&v, "")?;
        let def_obj = top.object("cluster_definition")?;
        let definition = Definition::from_obj(&def_obj)?;
        let version = definition.version;
        let b64 = version.uses_base64();

        let mut validators = Vec::new();
        for f in top.array("distributed_validators")?.unwrap_or_default() {
            validators.push(parse_validator(&f, version)?);
        }

        let (signature_aggregate, signature_aggregate_null, lock_hash) = if b64 {
            let (s, null) = top.base64("signature_aggregate")?;
            (s, null, top.base64("lock_hash")?.0)
        } else {
            (
                top.hex("signature_aggregate")?,
                false,
                top.hex("lock_hash")?,
            )
        };

        let node_signatures = if version.has_registrations() {
            top.array("node_signatures")?
                .unwrap_or_default()
                .iter()
                .map(Field::hex)
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };

        Ok(Lock {
            definition,
            validators,
            signature_aggregate,
            signature_aggregate_null,
            lock_hash,
            node_signatures,
        })
    }
}

fn parse_validator(f: &Field<'_>, version: Version) -> Result<DistValidator, ParseError> {
    let o = f.object()?;
    let b64 = version.uses_base64();
    let pubkey = o.hex("distributed_public_key")?;
    let public_shares = o
        .array("public_shares")?
        .unwrap_or_default()
        .iter()
        .map(|s| if b64 { s.base64() } else { s.hex() })
        .collect::<Result<Vec<_>, _>>()?;
    if version < Version::V1_6 && !o.hex("fee_recipient_address")?.is_empty() {
        return Err(ParseError::Rule(format!(
            "{}: distributed validator fee recipient not supported anymore",
            o.path
        )));
    }
    let deposit_data = if version.has_partial_deposits() {
        o.array("partial_deposit_data")?
            .unwrap_or_default()
            .iter()
            .map(|d| parse_deposit(&d.object()?))
            .collect::<Result<Vec<_>, _>>()?
    } else if version.has_deposit_data() {
        vec![parse_deposit(&o.object("deposit_data")?)?]
    } else {
        Vec::new()
    };
    let builder_registration = if version.has_registrations() {
        let r = o.object("builder_registration")?;
        let msg = r.object("message")?;
        BuilderRegistration {
            message: RegistrationMessage {
                fee_recipient: msg.hex("fee_recipient")?,
                gas_limit: msg.uint("gas_limit")?,
                timestamp: msg.uint("timestamp")?,
                pubkey: msg.hex("pubkey")?,
            },
            signature: r.hex("signature")?,
        }
    } else {
        BuilderRegistration::default()
    };
    Ok(DistValidator {
        pubkey,
        public_shares,
        deposit_data,
        builder_registration,
    })
}

fn parse_deposit(o: &Obj<'_>) -> Result<DepositRecord, ParseError> {
    Ok(DepositRecord {
        pubkey: o.hex("pubkey")?,
        withdrawal_credentials: o.hex("withdrawal_credentials")?,
        amount: match o.get("amount") {
            Some(f) => f.quoted_uint()?,
            None => 0,
        },
        signature: o.hex("signature")?,
    })
}
