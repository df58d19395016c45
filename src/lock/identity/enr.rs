//! Ethereum Node Records (v4, secp256k1) as charon reads and writes them, and
//! the libp2p peer ID of an ENR's key.

use std::net::Ipv4Addr;

use base64::Engine as _;
use sha3::{Digest, Keccak256};

use crate::lock::identity::k1::{self, K1Error, K1Secret};

/// Why an ENR is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrError {
    /// Does not start with `enr:`.
    #[error("missing 'enr:' prefix")]
    Prefix,
    /// Not base64 (raw URL alphabet).
    #[error("invalid base64 encoding")]
    Base64,
    /// Malformed RLP.
    #[error("invalid rlp encoding: {0}")]
    Rlp(&'static str),
    /// Fewer than 4 RLP elements.
    #[error("invalid enr record, too few elements")]
    TooFew,
    /// An odd number of RLP elements.
    #[error("invalid enr record, odd number of elements")]
    Odd,
    /// The text is longer than any valid record can be.
    #[error("enr too long: {len} bytes, at most {max}")]
    TooLong {
        /// Length of the text.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A key occurs twice.
    #[error("duplicate enr key found")]
    DuplicateKey,
    /// `id` other than `v4`.
    #[error("non-v4 identity scheme not supported")]
    Scheme,
    /// No `secp256k1` key.
    #[error("missing secp256k1 public key")]
    MissingKey,
    /// The `secp256k1` value does not parse.
    #[error("invalid secp256k1 public key")]
    BadKey,
    /// The record signature is malformed.
    #[error("invalid enr signature encoding: {0}")]
    SignatureEncoding(K1Error),
    /// The record signature does not verify.
    #[error("invalid enr signature")]
    Signature,
}

/// A parsed, signature-checked ENR.
#[derive(Clone, PartialEq, Eq)]
pub struct Enr {
    text: String,
    signature: Vec<u8>,
    public_key: k256::PublicKey,
    kvs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Enr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::fmt::Display for Enr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
);

/// Longest ENR text accepted. EIP-778 (and charon) cap a record at 300 bytes
/// of RLP, i.e. 404 characters with `enr:` and base64; twice that leaves room
/// for padding and trailing noise while refusing megabyte inputs before decoding.
pub const MAX_ENR_TEXT_LEN: usize = 1024;

impl Enr {
    /// Parses and verifies an ENR as charon's `enr.Parse` does.
    pub fn parse(s: &str) -> Result<Enr, EnrError> {
        if s.len() > MAX_ENR_TEXT_LEN {
            return Err(EnrError::TooLong {
                len: s.len(),
                max: MAX_ENR_TEXT_LEN,
            });
        }
        let body = s.strip_prefix("enr:").ok_or(EnrError::Prefix)?;
        let body = body.trim_end_matches('=');
        let raw = B64.decode(body).map_err(|_| EnrError::Base64)?;
        let elements = rlp_decode_list(&raw)?;
        if elements.len() < 4 {
            return Err(EnrError::TooFew);
        }
        if !elements.len().is_multiple_of(2) {
            return Err(EnrError::Odd);
        }
        let mut kvs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut public_key = None;
        for pair in elements.get(2..).unwrap_or_default().chunks_exact(2) {
            let (key, val) = (pair[0], pair[1]);
            if !seen.insert(key) {
                return Err(EnrError::DuplicateKey);
            }
            match key {
                b"secp256k1" => {
                    public_key = Some(k1::parse_public_key(val).map_err(|_| EnrError::BadKey)?)
                }
                b"id" if val != b"v4" => return Err(EnrError::Scheme),
                _ => {}
            }
            kvs.push((key.to_vec(), val.to_vec()));
        }
        let public_key = public_key.ok_or(EnrError::MissingKey)?;
        let signature = elements.first().copied().unwrap_or_default().to_vec();
        let content = rlp_encode_list(elements.get(1..).unwrap_or_default());
        let digest = Keccak256::digest(&content);
        match k1::verify64(&public_key, &digest, &signature) {
            Ok(true) => {}
            Ok(false) => return Err(EnrError::Signature),
            Err(e) => return Err(EnrError::SignatureEncoding(e)),
        }
        Ok(Enr {
            text: s.to_owned(),
            signature,
            public_key,
            kvs,
        })
    }

    /// Creates and signs a record as charon's `enr.New` does: seq 0, keys sorted.
    pub fn new(
        secret: &K1Secret,
        ip: Option<Ipv4Addr>,
        tcp: Option<u16>,
        udp: Option<u16>,
    ) -> Result<Enr, EnrError> {
        let public_key = secret.public_key();
        let mut kvs: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"id".to_vec(), b"v4".to_vec()),
            (b"secp256k1".to_vec(), k1::compressed(&public_key).to_vec()),
        ];
        if let Some(ip) = ip {
            kvs.push((b"ip".to_vec(), ip.octets().to_vec()));
        }
        if let Some(p) = tcp {
            kvs.push((b"tcp".to_vec(), minimal_be(u64::from(p))));
        }
        if let Some(p) = udp {
            kvs.push((b"udp".to_vec(), minimal_be(u64::from(p))));
        }
        kvs.sort();
        let pairs: Vec<(&[u8], &[u8])> = kvs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let (signature, text) = sign_record(secret, &pairs)?;
        Ok(Enr {
            text,
            signature,
            public_key,
            kvs,
        })
    }

    /// The record's secp256k1 public key.
    pub fn public_key(&self) -> &k256::PublicKey {
        &self.public_key
    }

    /// The 64-byte record signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The libp2p peer ID bytes: an identity multihash of the protobuf
    /// `PublicKey{Type: Secp256k1, Data: compressed key}`.
    pub fn peer_id_bytes(&self) -> Vec<u8> {
        peer_id_bytes(&self.public_key)
    }

    /// The raw value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.kvs
            .iter()
            .find(|(k, _)| k.as_slice() == key)
            .map(|(_, v)| v.as_slice())
    }

    /// The IPv4 address, if present and 4 bytes long.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        let b: [u8; 4] = self.get(b"ip")?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// The TCP port, if present.
    pub fn tcp(&self) -> Option<u16> {
        port(self.get(b"tcp")?)
    }

    /// The UDP port, if present.
    pub fn udp(&self) -> Option<u16> {
        port(self.get(b"udp")?)
    }
}

/// The libp2p peer ID bytes of a secp256k1 key (see [`Enr::peer_id_bytes`]).
pub fn peer_id_bytes(pk: &k256::PublicKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(39);
    // identity multihash (0x00) of 37 bytes: protobuf field 1 (type) = 2
    // (secp256k1), field 2 (data) = 33 bytes.
    out.extend_from_slice(&[0x00, 0x25, 0x08, 0x02, 0x12, 0x21]);
    out.extend_from_slice(&k1::compressed(pk));
    out
}

/// A port value: a big-endian integer of any length, as charon reads it, so
/// leading zero bytes are accepted; `None` when the value does not fit 16 bits.
fn port(b: &[u8]) -> Option<u16> {
    if b.len() > 2 {
        let (high, low) = b.split_at(b.len() - 2);
        if high.iter().any(|x| *x != 0) {
            return None;
        }
        return port(low);
    }
    Some(b.iter().fold(0u16, |acc, x| (acc << 8) | u16::from(*x)))
}

/// Whether `text` is exactly the canonical encoding of the record it holds:
/// canonical RLP of byte strings only, nothing trailing, and base64 without
/// stray bits (trailing `=` padding aside). [`Enr::parse`] is more lenient, as
/// charon is; the relay client also requires this.
pub fn is_canonical(text: &str) -> bool {
    let Some(body) = text.strip_prefix("enr:") else {
        return false;
    };
    let body = body.trim_end_matches('=');
    let Ok(raw) = B64.decode(body) else {
        return false;
    };
    match rlp_decode_list(&raw) {
        Ok(items) if !raw.is_empty() => rlp_encode_list(&items) == raw,
        _ => false,
    }
}

fn minimal_be(x: u64) -> Vec<u8> {
    let b = x.to_be_bytes();
    let skip = b.iter().take_while(|v| **v == 0).count();
    b.get(skip..).unwrap_or_default().to_vec()
}

/// Reads one RLP header: (payload offset, payload length).
fn rlp_header(item: &[u8]) -> Result<(usize, usize), EnrError> {
    let prefix = *item.first().ok_or(EnrError::Rlp("input too short"))?;
    let long = |base: u8| -> Result<(usize, usize), EnrError> {
        let n = usize::from(prefix - base);
        let bytes = item.get(1..1 + n).ok_or(EnrError::Rlp("input too short"))?;
        if n > 8 {
            return Err(EnrError::Rlp("invalid length prefix"));
        }
        let len = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let len = usize::try_from(len).map_err(|_| EnrError::Rlp("length overflow"))?;
        Ok((1 + n, len))
    };
    match prefix {
        0x00..=0x7f => Ok((0, 1)),
        0x80..=0xb7 => Ok((1, usize::from(prefix - 0x80))),
        0xb8..=0xbf => long(0xb7),
        0xc0..=0xf7 => Ok((1, usize::from(prefix - 0xc0))),
        _ => long(0xf7),
    }
}

/// charon's lenient RLP list decoder: a list header, then items (byte strings,
/// or lists taken as their raw payload); trailing bytes are ignored.
fn rlp_decode_list(input: &[u8]) -> Result<Vec<&[u8]>, EnrError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let (off, len) = rlp_header(input)?;
    let end = off
        .checked_add(len)
        .ok_or(EnrError::Rlp("length overflow"))?;
    if end > input.len() {
        return Err(EnrError::Rlp("input too short"));
    }
    let mut items = Vec::new();
    let mut i = off;
    while i < end {
        let rest = input.get(i..).ok_or(EnrError::Rlp("input too short"))?;
        let (ioff, ilen) = rlp_header(rest)?;
        let start = i
            .checked_add(ioff)
            .ok_or(EnrError::Rlp("length overflow"))?;
        let stop = start
            .checked_add(ilen)
            .ok_or(EnrError::Rlp("length overflow"))?;
        let item = input
            .get(start..stop)
            .ok_or(EnrError::Rlp("input too short"))?;
        items.push(item);
        i = stop;
    }
    Ok(items)
}

fn rlp_len_prefix(len: usize, offset: u8, out: &mut Vec<u8>) {
    if len < 56 {
        out.push(offset + len as u8);
    } else {
        let b = minimal_be(len as u64);
        out.push(offset + 55 + b.len() as u8);
        out.extend_from_slice(&b);
    }
}

/// Signs a seq-0 record of `kvs` (sorted by key) as charon's `enr.New`
/// does; returns the 64-byte signature and the record's `enr:` text. Tests
/// use it to sign records `Enr::new` would not make.
pub(crate) fn sign_record(
    secret: &K1Secret,
    kvs: &[(&[u8], &[u8])],
) -> Result<(Vec<u8>, String), EnrError> {
    let mut content: Vec<&[u8]> = vec![&[]];
    for (k, v) in kvs {
        content.push(k);
        content.push(v);
    }
    let digest: [u8; 32] = Keccak256::digest(rlp_encode_list(&content)).into();
    let sig = k1::sign65(secret, &digest).map_err(EnrError::SignatureEncoding)?;
    let signature = sig.get(..64).unwrap_or_default().to_vec();
    let mut all: Vec<&[u8]> = vec![&signature];
    all.extend_from_slice(&content);
    let text = format!("enr:{}", B64.encode(rlp_encode_list(&all)));
    Ok((signature, text))
}

fn rlp_encode_list(items: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for item in items {
        if item.len() == 1 && item[0] < 0x80 {
            body.push(item[0]);
        } else {
            rlp_len_prefix(item.len(), 0x80, &mut body);
            body.extend_from_slice(item);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 9);
    rlp_len_prefix(body.len(), 0xc0, &mut out);
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // shared/vectors/inline_vectors.json -> enr
    #[test]
    fn charon_enr_vectors() {
        let e = Enr::parse("enr:-Iu4QJyserRukhG0Vgi2csu7GjpHYUGufNEbZ8Q7ZBrcZUb0KqpL5QzHonkh1xxHlxatTxrIcX_IS5J3SEWR_sa0ptGAgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQMAUgEqczOjevyculnUIofhCj0DkgJudErM7qCYIvIkzIN0Y3CCDhqDdWRwgg4u").unwrap();
        assert_eq!(
            hex::encode(k1::compressed(e.public_key())),
            "030052012a7333a37afc9cba59d42287e10a3d0392026e744acceea09822f224cc"
        );
        assert_eq!(e.ip(), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(e.tcp(), Some(3610));
        assert_eq!(e.udp(), Some(3630));
        assert_eq!(e.peer_id_bytes().len(), 39);

        let sk = K1Secret::from_bytes(&[1u8; 32]).unwrap();
        let made = Enr::new(&sk, None, None, None).unwrap();
        assert_eq!(
            made.to_string(),
            "enr:-HW4QEp-BLhP30tqTGFbR9n2PdUKWP9qc0zphIRmn8_jpm4BYkgekztXQaPA_znRW8RvNYHo0pUwyPEwUGGeZu26XlKAgmlkgnY0iXNlY3AyNTZrMaEDG4TFVnsSZECZXT7VqroFZdceGDRgSBn_nBf16dXdB48"
        );
        let back = Enr::parse(&made.to_string()).unwrap();
        assert_eq!(back.public_key(), &sk.public_key());

        let with_addr =
            Enr::new(&sk, Some(Ipv4Addr::new(10, 0, 0, 1)), Some(3610), Some(256)).unwrap();
        let back = Enr::parse(&with_addr.to_string()).unwrap();
        assert_eq!(
            (back.ip(), back.tcp(), back.udp()),
            (Some(Ipv4Addr::new(10, 0, 0, 1)), Some(3610), Some(256))
        );
        // Old padded form is accepted.
        assert!(Enr::parse(&format!("{made}==")).is_ok());
    }

    #[test]
    fn rejects_malformed_records() {
        let sk = K1Secret::from_bytes(&[2u8; 32]).unwrap();
        let good = Enr::new(&sk, None, Some(1), None).unwrap().to_string();
        assert_eq!(Enr::parse("enr://abc"), Err(EnrError::Base64));
        assert_eq!(Enr::parse("xyz"), Err(EnrError::Prefix));
        assert!(Enr::parse("enr:").is_err());
        assert!(Enr::parse("enr:-w").is_err());
        // Flip a byte inside the signed content: signature no longer verifies.
        let mut raw = B64.decode(good.trim_start_matches("enr:")).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let bad = format!("enr:{}", B64.encode(&raw));
        assert!(Enr::parse(&bad).is_err());
        // Every truncation fails cleanly.
        let raw = B64.decode(good.trim_start_matches("enr:")).unwrap();
        for n in 0..raw.len() {
            assert!(Enr::parse(&format!("enr:{}", B64.encode(&raw[..n]))).is_err());
        }
        // Duplicate key, non-v4 id, missing key.
        let sig = [1u8; 64];
        let pk = k1::compressed(&sk.public_key());
        let dup = rlp_encode_list(&[&sig, &[], b"secp256k1", &pk, b"secp256k1", &pk]);
        assert_eq!(
            Enr::parse(&format!("enr:{}", B64.encode(dup))),
            Err(EnrError::DuplicateKey)
        );
        let v5 = rlp_encode_list(&[&sig, &[], b"id", b"v5", b"secp256k1", &pk]);
        assert_eq!(
            Enr::parse(&format!("enr:{}", B64.encode(v5))),
            Err(EnrError::Scheme)
        );
        let nokey = rlp_encode_list(&[&sig, &[], b"id", b"v4"]);
        assert_eq!(
            Enr::parse(&format!("enr:{}", B64.encode(nokey))),
            Err(EnrError::MissingKey)
        );
        let odd = rlp_encode_list(&[&sig, &[], b"id", b"v4", b"x"]);
        assert_eq!(
            Enr::parse(&format!("enr:{}", B64.encode(odd))),
            Err(EnrError::Odd)
        );
    }

    #[test]
    fn ports_with_leading_zero_bytes_are_read_as_integers() {
        assert_eq!(port(&[0, 0, 1]), Some(1));
        assert_eq!(port(&[0, 0, 0, 0x0e, 0x1a]), Some(3610));
        assert_eq!(port(&[1, 0, 0]), None);
        assert_eq!(port(&[0x01, 0x00]), Some(256));
        assert_eq!(port(&[]), Some(0));
        // In a signed record: a 3-byte tcp value with a leading zero is port 1.
        let sk = K1Secret::from_bytes(&[4u8; 32]).unwrap();
        let pk = k1::compressed(&sk.public_key());
        let content: Vec<&[u8]> = vec![&[], b"id", b"v4", b"secp256k1", &pk, b"tcp", &[0, 0, 1]];
        let digest: [u8; 32] = Keccak256::digest(rlp_encode_list(&content)).into();
        let sig = k1::sign65(&sk, &digest).unwrap();
        let mut all: Vec<&[u8]> = vec![&sig[..64]];
        all.extend_from_slice(&content);
        let text = format!("enr:{}", B64.encode(rlp_encode_list(&all)));
        let e = Enr::parse(&text).unwrap();
        assert_eq!((e.tcp(), e.udp()), (Some(1), None));
        assert_eq!(e.get(b"tcp"), Some(&[0u8, 0, 1][..]));
    }

    #[test]
    fn canonical_records() {
        let sk = K1Secret::from_bytes(&[5u8; 32]).unwrap();
        let good = Enr::new(&sk, Some(Ipv4Addr::new(1, 2, 3, 4)), Some(1), Some(2))
            .unwrap()
            .to_string();
        assert!(is_canonical(&good));
        assert!(is_canonical(&format!("{good}==")));
        assert!(!is_canonical("enr:"));
        assert!(!is_canonical("nope"));
        let raw = B64.decode(good.trim_start_matches("enr:")).unwrap();
        let mut trailing = raw.clone();
        trailing.push(0);
        let trailing = format!("enr:{}", B64.encode(&trailing));
        assert!(Enr::parse(&trailing).is_ok());
        assert!(!is_canonical(&trailing));
    }

    #[test]
    fn megabyte_records_are_refused_before_decoding() {
        // 20k distinct key/value pairs (about 1 MiB of text), the input that
        // took the quadratic duplicate scan half a second.
        let sig = [1u8; 64];
        let keys: Vec<Vec<u8>> = (0..20_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut items: Vec<&[u8]> = vec![&sig, &[]];
        for k in &keys {
            items.push(k);
            items.push(b"v");
        }
        let text = format!("enr:{}", B64.encode(rlp_encode_list(&items)));
        assert!(text.len() > 100_000);
        assert_eq!(
            Enr::parse(&text),
            Err(EnrError::TooLong {
                len: text.len(),
                max: MAX_ENR_TEXT_LEN
            })
        );
        let mib = format!("enr:{}", "A".repeat(1 << 20));
        assert!(matches!(Enr::parse(&mib), Err(EnrError::TooLong { .. })));
        // The largest record EIP-778 allows (300 bytes of RLP) is still read.
        let sk = K1Secret::from_bytes(&[3u8; 32]).unwrap();
        let pk = k1::compressed(&sk.public_key());
        let filler = vec![b'x'; 300 - 64 - 2 - 36 - 3 - 2 - 10 - 8];
        let big = rlp_encode_list(&[&sig, &[], b"id", b"v4", b"secp256k1", &pk, b"zz", &filler]);
        assert_eq!(big.len(), 300);
        // Past the bound and decoded: only the (made-up) signature fails.
        assert!(matches!(
            Enr::parse(&format!("enr:{}", B64.encode(big))),
            Err(EnrError::Signature | EnrError::SignatureEncoding(_))
        ));
    }
}
