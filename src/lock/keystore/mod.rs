//! EIP-2335 (version 4) keystores as charon writes and reads them: the format
//! and its crypto ([`format`]'s items, re-exported here), the keystore files of
//! `validator_keys/` ([`files`]'s items), and the PBKDF2-HMAC-SHA256 behind
//! them, which derives many keys at once on SIMD lanes.

pub(crate) mod files;
pub(crate) mod format;
pub mod pbkdf2;
mod sha256_lanes;
mod sha_ni;

pub use files::{
    WriteOptions, encrypt_many, encrypt_many_with, keystore_index, load_keystores, load_one,
    write_keystores, write_keystores_with,
};
pub use format::{
    CipherParams, Crypto, DEFAULT_PBKDF2_C, EmptyParams, INSECURE_PBKDF2_C, KEYSTORE_PATH,
    KdfParams, Keystore, KeystoreError, MAX_PBKDF2_C, MAX_SCRYPT_NR, Module, Password, decrypt,
    encrypt, from_json, normalize_password, to_json,
};
