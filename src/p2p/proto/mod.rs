//! Protobuf messages of charon's DKG wire protocols, written by hand from the
//! schema tables (no protoc). Package names are exact because they form the
//! `google.protobuf.Any` type URLs that are hashed and co-signed by bcast.

pub mod corepb;
pub mod dkgpb;
pub mod peerinfopb;

pub use prost_types::{Any, Timestamp};

use prost::{Message, Name};

/// Type URL prefix Go's `anypb.New` uses.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// A protobuf message was malformed or missing a required part.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    /// Bytes are not a valid protobuf encoding of the expected message.
    #[error("invalid {message} protobuf: {reason}")]
    Decode {
        /// Full protobuf name of the expected message.
        message: &'static str,
        /// Decoder's explanation.
        reason: String,
    },
    /// A non-optional message-typed field is absent (charon's `protonil` rule).
    #[error("nil proto field: {message}.{field} is absent")]
    MissingField {
        /// Message holding the field.
        message: &'static str,
        /// Field name.
        field: &'static str,
    },
    /// An `Any` carried a different message type than expected.
    #[error("unexpected Any type url {got:?}, expected message {expected}")]
    TypeUrl {
        /// Full name the receiver expected.
        expected: String,
        /// Type URL as received.
        got: String,
    },
}

/// Charon's `protonil` check: every non-optional message field must be present,
/// recursively. Go peers drop messages that fail it, so we never send such a
/// message and reject it on receipt.
pub trait CheckPresent {
    /// Fails with the first absent required field.
    fn check_present(&self) -> Result<(), ProtoError>;
}

/// Returns the field or a [`ProtoError::MissingField`].
pub(crate) fn required<'a, T>(
    field: &'a Option<T>,
    message: &'static str,
    name: &'static str,
) -> Result<&'a T, ProtoError> {
    field.as_ref().ok_or(ProtoError::MissingField {
        message,
        field: name,
    })
}

/// Decodes `bytes` as `M` and applies the presence check.
pub fn decode_checked<M>(bytes: &[u8]) -> Result<M, ProtoError>
where
    M: Message + Default + Name + CheckPresent,
{
    let msg = M::decode(bytes).map_err(|e| ProtoError::Decode {
        message: M::NAME,
        reason: e.to_string(),
    })?;
    msg.check_present()?;
    Ok(msg)
}

/// Wraps `msg` in an `Any` exactly as Go's `anypb.New` does. Serialise once and
/// reuse the result: bcast signatures cover these exact bytes.
pub fn pack_any<M: Message + Name>(msg: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: msg.encode_to_vec(),
    }
}

/// True when `type_url` names message `M`. Like Go's `anypb`, only the part
/// after the last `/` is compared; the host prefix is not checked.
pub fn any_is<M: Name>(any: &Any) -> bool {
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    name == M::full_name()
}

/// Unpacks an `Any` into `M` after checking its type URL and presence rules.
pub fn unpack_any<M>(any: &Any) -> Result<M, ProtoError>
where
    M: Message + Default + Name + CheckPresent,
{
    if !any_is::<M>(any) {
        return Err(ProtoError::TypeUrl {
            expected: M::full_name(),
            got: any.type_url.clone(),
        });
    }
    decode_checked(&any.value)
}

/// Implements [`prost::Name`] with Go's `type.googleapis.com/` type URL.
macro_rules! proto_name {
    ($package:literal: $($ty:ident),+ $(,)?) => {
        $(
            impl ::prost::Name for $ty {
                const NAME: &'static str = stringify!($ty);
                const PACKAGE: &'static str = $package;
                fn type_url() -> String {
                    format!("{}{}.{}", $crate::p2p::proto::TYPE_URL_PREFIX, $package, stringify!($ty))
                }
            }
        )+
    };
}
pub(crate) use proto_name;

/// Implements [`CheckPresent`] for messages without required sub-messages.
macro_rules! no_required_fields {
    ($($ty:ident),+ $(,)?) => {
        $(
            impl $crate::p2p::proto::CheckPresent for $ty {
                fn check_present(&self) -> Result<(), $crate::p2p::proto::ProtoError> {
                    Ok(())
                }
            }
        )+
    };
}
pub(crate) use no_required_fields;

/// Implements [`CheckPresent`] from a message's fields, checked in order:
/// `present(f)` fails unless `f` is set, `each(f)` checks every item of the
/// repeated `f`. Errors name the message and field as charon's `protonil` does.
macro_rules! required_fields {
    ($($ty:ident: $($kind:ident($field:ident)),+;)+) => {
        $(
            impl $crate::p2p::proto::CheckPresent for $ty {
                fn check_present(&self) -> Result<(), $crate::p2p::proto::ProtoError> {
                    $($crate::p2p::proto::required_fields!(@$kind self, $ty, $field);)+
                    Ok(())
                }
            }
        )+
    };
    (@present $msg:ident, $ty:ident, $field:ident) => {
        $crate::p2p::proto::required(&$msg.$field, stringify!($ty), stringify!($field))?
    };
    (@each $msg:ident, $ty:ident, $field:ident) => {
        $msg.$field
            .iter()
            .try_for_each($crate::p2p::proto::CheckPresent::check_present)?
    };
}
pub(crate) use required_fields;

/// Converts a system time into a protobuf timestamp.
pub fn timestamp_from(time: std::time::SystemTime) -> Timestamp {
    Timestamp::from(time)
}
