//! Package `core.corepb.v1`: duties and partial signatures (parsigex).

use std::collections::BTreeMap;

use super::{no_required_fields, proto_name, required_fields};

/// A duty; the DKG uses `type = 3` (`DutySignature`) with the sigType as slot.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Duty {
    /// Slot, or the DKG sigType (101, 102, 200 + i).
    #[prost(uint64, tag = "1")]
    pub slot: u64,
    /// `core.DutyType`.
    #[prost(int32, tag = "2")]
    pub r#type: i32,
}

/// Unsigned data by pubkey (not used by the DKG).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UnsignedDataSet {
    /// Data by `0x`-hex pubkey.
    #[prost(btree_map = "string, bytes", tag = "1")]
    pub set: BTreeMap<String, Vec<u8>>,
}

/// Partial signatures by `0x` + lowercase-hex group pubkey. Encoded in
/// ascending key order; Go sends any order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ParSignedDataSet {
    /// Entries by pubkey.
    #[prost(btree_map = "string, message", tag = "1")]
    pub set: BTreeMap<String, ParSignedData>,
}

/// One partial signature.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ParSignedData {
    /// For `DutySignature`: the JSON string of the base64 signature (130 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
    /// Raw 96-byte signature (ignored by Go receivers for `DutySignature`).
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
    /// Sender's ShareIdx.
    #[prost(int32, tag = "3")]
    pub share_idx: i32,
}

/// The `/charon/parsigex/2.0.0` message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ParSigExMsg {
    /// Duty (required).
    #[prost(message, optional, tag = "1")]
    pub duty: Option<Duty>,
    /// Partial signatures (required).
    #[prost(message, optional, tag = "2")]
    pub data_set: Option<ParSignedDataSet>,
}

proto_name!("core.corepb.v1": Duty, UnsignedDataSet, ParSignedDataSet, ParSignedData, ParSigExMsg);

no_required_fields!(Duty, UnsignedDataSet, ParSignedDataSet, ParSignedData);

required_fields! {
    ParSigExMsg: present(duty), present(data_set);
}
