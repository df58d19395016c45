//! The small slice of ENR (EIP-778) that relays need: building the record a
//! charon relay serves at `/enr`, and turning such a record into the relay's
//! multiaddrs. Records are RLP lists of byte strings, signed with keccak256 +
//! secp256k1 (64-byte `r ‖ s`), sequence number 0, keys sorted.

use std::net::Ipv4Addr;

use k256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use sha3::{Digest as _, Keccak256};

use super::identity::{EnrPrivateKey, peer_id_from_k1_pubkey};

/// Errors parsing a relay ENR.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnrError {
    /// The text does not start with `enr:`.
    #[error("missing 'enr:' prefix")]
    MissingPrefix,
    /// The text is not unpadded URL-safe base64.
    #[error("invalid base64 encoding in enr")]
    Base64,
    /// The bytes are not an RLP list of byte strings.
    #[error("invalid rlp encoding in enr")]
    Rlp,
    /// Fewer than four elements.
    #[error("invalid enr record, too few elements")]
    TooFewElements,
    /// An odd number of elements.
    #[error("invalid enr record, odd number of elements")]
    OddElements,
    /// A key appears twice.
    #[error("duplicate enr key found: {0}")]
    DuplicateKey(String),
    /// The `id` key is not `v4`.
    #[error("non-v4 identity scheme not supported")]
    NotV4,
    /// No usable `secp256k1` key.
    #[error("missing or invalid secp256k1 public key in enr")]
    PublicKey,
    /// The signature does not verify.
    #[error("invalid enr signature")]
    Signature,
    /// No `ip` entry.
    #[error("enr missing IP address")]
    MissingIp,
    /// The `ip` entry is not 4 bytes.
    #[error("enr IP address is not IPv4")]
    BadIp,
    /// A port entry does not fit 16 bits.
    #[error("enr {0} port is not a 16-bit number")]
    BadPort(&'static str),
    /// Neither `tcp` nor `udp` entries.
    #[error("enr missing TCP and UDP ports")]
    MissingPorts,
}

/// The fields of a verified ENR that relay resolution uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRecord {
    /// Compressed secp256k1 public key.
    pub pubkey: [u8; 33],
    /// IPv4 address, if present.
    pub ip: Option<Ipv4Addr>,
    /// TCP port, if present.
    pub tcp: Option<u16>,
    /// UDP port, if present.
    pub udp: Option<u16>,
}

/// Builds and signs the ENR string charon's relay serves at `/enr`.
pub fn encode_enr(key: &EnrPrivateKey, ip: Ipv4Addr, tcp: u16, udp: u16) -> String {
    use base64::Engine as _;
    let pubkey = key.public_key_compressed();
    let ip = ip.octets();
    let tcp = be_minimal(u64::from(tcp));
    let udp = be_minimal(u64::from(udp));
    // Keys in ascending order, as the spec requires.
    let kvs: [(&[u8], &[u8]); 5] = [
        (b"id", b"v4"),
        (b"ip", &ip),
        (b"secp256k1", &pubkey),
        (b"tcp", &tcp),
        (b"udp", &udp),
    ];
    let mut content: Vec<&[u8]> = vec![&[]]; // seq = 0 encodes as the empty string
    for (k, v) in &kvs {
        content.push(k);
        content.push(v);
    }
    let digest = Keccak256::digest(rlp_encode_list(&content));
    let signing = SigningKey::from(key.secret_key());
    // RFC 6979 deterministic and low-S, like charon's signer.
    let sig: Signature = match signing.sign_prehash(&digest) {
        Ok(sig) => sig,
        // Signing a 32-byte prehash with a valid key cannot fail; an empty
        // signature would make the record fail verification rather than panic.
        Err(_) => return String::new(),
    };
    let sig_bytes = sig.to_bytes();
    let mut all: Vec<&[u8]> = vec![&sig_bytes[..]];
    all.extend(content);
    format!(
        "enr:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rlp_encode_list(&all))
    )
}

/// Parses and verifies an ENR the way charon does (`eth2util/enr` `Parse`).
pub fn parse_enr(text: &str) -> Result<RelayRecord, EnrError> {
    use base64::Engine as _;
    let body = text.strip_prefix("enr:").ok_or(EnrError::MissingPrefix)?;
    let body = body.trim_end_matches('=');
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| EnrError::Base64)?;
    let elems = rlp_decode_bytes_list(&raw).ok_or(EnrError::Rlp)?;
    if elems.len() < 4 {
        return Err(EnrError::TooFewElements);
    }
    if elems.len() % 2 != 0 {
        return Err(EnrError::OddElements);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut rec = RelayRecord {
        pubkey: [0; 33],
        ip: None,
        tcp: None,
        udp: None,
    };
    let mut verifying = None;
    let mut ip_raw = None;
    let mut tcp_raw = None;
    let mut udp_raw = None;
    for pair in elems.get(2..).unwrap_or_default().chunks_exact(2) {
        let [key, val] = pair else { continue };
        if !seen.insert(*key) {
            return Err(EnrError::DuplicateKey(
                String::from_utf8_lossy(key).into_owned(),
            ));
        }
        match *key {
            b"secp256k1" => {
                let vk = VerifyingKey::from_sec1_bytes(val).map_err(|_| EnrError::PublicKey)?;
                verifying = Some(vk);
            }
            b"id" if *val != b"v4" => return Err(EnrError::NotV4),
            b"ip" => ip_raw = Some(*val),
            b"tcp" => tcp_raw = Some(*val),
            b"udp" => udp_raw = Some(*val),
            _ => {}
        }
    }
    let vk = verifying.ok_or(EnrError::PublicKey)?;
    let sig_bytes = elems.first().ok_or(EnrError::Signature)?;
    let sig = Signature::from_slice(sig_bytes).map_err(|_| EnrError::Signature)?;
    // Go accepts high-S signatures; k256 only verifies low-S, so normalise first.
    let sig = sig.normalize_s();
    let digest = Keccak256::digest(rlp_encode_list(elems.get(1..).unwrap_or_default()));
    vk.verify_prehash(&digest, &sig)
        .map_err(|_| EnrError::Signature)?;

    rec.pubkey
        .copy_from_slice(vk.to_sec1_point(true).as_bytes());
    if let Some(ip) = ip_raw {
        let octets: [u8; 4] = ip.try_into().map_err(|_| EnrError::BadIp)?;
        rec.ip = Some(Ipv4Addr::from(octets));
    }
    rec.tcp = tcp_raw.map(|b| port(b, "tcp")).transpose()?;
    rec.udp = udp_raw.map(|b| port(b, "udp")).transpose()?;
    Ok(rec)
}

/// The multiaddrs charon derives from a relay's ENR (`multiAddrFromENRStr`):
/// QUIC over the UDP port, then TCP, each ending in `/p2p/<relay id>`.
pub fn relay_multiaddrs_from_enr(text: &str) -> Result<Vec<Multiaddr>, EnrError> {
    let rec = parse_enr(text)?;
    let ip = rec.ip.ok_or(EnrError::MissingIp)?;
    let peer = peer_id_from_k1_pubkey(&rec.pubkey).map_err(|_| EnrError::PublicKey)?;
    let mut out = Vec::new();
    if let Some(udp) = rec.udp {
        out.push(
            Multiaddr::empty()
                .with(Protocol::Ip4(ip))
                .with(Protocol::Udp(udp))
                .with(Protocol::QuicV1)
                .with(Protocol::P2p(peer)),
        );
    }
    if let Some(tcp) = rec.tcp {
        out.push(
            Multiaddr::empty()
                .with(Protocol::Ip4(ip))
                .with(Protocol::Tcp(tcp))
                .with(Protocol::P2p(peer)),
        );
    }
    if out.is_empty() {
        return Err(EnrError::MissingPorts);
    }
    Ok(out)
}

fn port(bytes: &[u8], name: &'static str) -> Result<u16, EnrError> {
    if bytes.len() > 2 {
        // Go reads any length into an int; only values that fit a port are usable.
        let (high, low) = bytes.split_at(bytes.len() - 2);
        if high.iter().any(|b| *b != 0) {
            return Err(EnrError::BadPort(name));
        }
        return port(low, name);
    }
    Ok(bytes.iter().fold(0u16, |acc, b| (acc << 8) | u16::from(*b)))
}

fn be_minimal(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default().to_vec()
}

fn rlp_header(out: &mut Vec<u8>, len: usize, short: u8, long: u8) {
    if len < 56 {
        // len < 56 so the sum fits a byte.
        out.push(short + len as u8);
    } else {
        let len_bytes = be_minimal(len as u64);
        out.push(long + len_bytes.len() as u8);
        out.extend_from_slice(&len_bytes);
    }
}

fn rlp_encode_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if let [single] = b
        && *single < 0x80
    {
        out.push(*single);
        return;
    }
    rlp_header(out, b.len(), 0x80, 0xb7);
    out.extend_from_slice(b);
}

fn rlp_encode_list<T: AsRef<[u8]>>(items: &[T]) -> Vec<u8> {
    let mut payload = Vec::new();
    for it in items {
        rlp_encode_bytes(&mut payload, it.as_ref());
    }
    let mut out = Vec::with_capacity(payload.len() + 9);
    rlp_header(&mut out, payload.len(), 0xc0, 0xf7);
    out.extend_from_slice(&payload);
    out
}

/// Decodes one RLP header at the start of `b`: (is_list, header length, payload length).
fn rlp_decode_header(b: &[u8]) -> Option<(bool, usize, usize)> {
    let first = *b.first()?;
    let long_len = |n: usize| -> Option<usize> {
        let bytes = b.get(1..1 + n)?;
        // Canonical: no leading zero and no long form for short payloads.
        if bytes.first() == Some(&0) || n > 8 {
            return None;
        }
        let len = bytes.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x));
        let len = usize::try_from(len).ok()?;
        (len >= 56).then_some(len)
    };
    match first {
        0x00..=0x7f => Some((false, 0, 1)),
        0x80..=0xb7 => Some((false, 1, usize::from(first - 0x80))),
        0xb8..=0xbf => {
            let n = usize::from(first - 0xb7);
            Some((false, 1 + n, long_len(n)?))
        }
        0xc0..=0xf7 => Some((true, 1, usize::from(first - 0xc0))),
        0xf8..=0xff => {
            let n = usize::from(first - 0xf7);
            Some((true, 1 + n, long_len(n)?))
        }
    }
}

/// Decodes an RLP list whose items are all byte strings; `None` on any
/// malformation, trailing bytes or nested lists.
fn rlp_decode_bytes_list(b: &[u8]) -> Option<Vec<&[u8]>> {
    let (is_list, hl, pl) = rlp_decode_header(b)?;
    if !is_list || hl.checked_add(pl)? != b.len() {
        return None;
    }
    let mut rest = b.get(hl..)?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (is_list, hl, pl) = rlp_decode_header(rest)?;
        if is_list {
            return None;
        }
        let end = hl.checked_add(pl)?;
        let item = if hl == 0 {
            rest.get(..1)?
        } else {
            rest.get(hl..end)?
        };
        // A single byte below 0x80 must not be wrapped in a string header.
        if hl == 1 && pl == 1 && item.first().is_some_and(|x| *x < 0x80) {
            return None;
        }
        out.push(item);
        rest = rest.get(end..)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_multiaddrs() {
        let key = EnrPrivateKey::generate();
        let enr = encode_enr(&key, Ipv4Addr::new(10, 1, 2, 3), 3610, 3630);
        let rec = parse_enr(&enr).unwrap();
        assert_eq!(rec.pubkey, key.public_key_compressed());
        assert_eq!(rec.ip, Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(rec.tcp, Some(3610));
        assert_eq!(rec.udp, Some(3630));
        let peer = key.peer_id().unwrap();
        let addrs = relay_multiaddrs_from_enr(&enr).unwrap();
        assert_eq!(
            addrs[0].to_string(),
            format!("/ip4/10.1.2.3/udp/3630/quic-v1/p2p/{peer}")
        );
        assert_eq!(
            addrs[1].to_string(),
            format!("/ip4/10.1.2.3/tcp/3610/p2p/{peer}")
        );
        // Legacy padding is tolerated.
        assert!(parse_enr(&format!("{enr}==")).is_ok());
    }

    /// A known ENR from the ENR spec (EIP-778 example record).
    #[test]
    fn eip778_example_parses() {
        let enr = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
        let rec = parse_enr(enr).unwrap();
        assert_eq!(rec.ip, Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(rec.udp, Some(30303));
        assert_eq!(rec.tcp, None);
        assert_eq!(
            hex::encode(rec.pubkey),
            "03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
        );
    }

    #[test]
    fn tampering_and_malformed_input_rejected() {
        let key = EnrPrivateKey::generate();
        let enr = encode_enr(&key, Ipv4Addr::new(1, 2, 3, 4), 1, 2);
        assert_eq!(parse_enr("nope"), Err(EnrError::MissingPrefix));
        assert_eq!(parse_enr("enr:!!"), Err(EnrError::Base64));
        assert!(parse_enr("enr:").is_err());
        // Flip every character of the body in turn: nothing may verify or panic.
        let body: Vec<char> = enr[4..].chars().collect();
        for i in 0..body.len() {
            let mut b = body.clone();
            b[i] = if b[i] == 'A' { 'B' } else { 'A' };
            let s: String = b.into_iter().collect();
            assert!(parse_enr(&format!("enr:{s}")).is_err(), "position {i}");
        }
        // Truncations never panic and never verify.
        for i in 0..body.len() {
            let s: String = body[..i].iter().collect();
            assert!(parse_enr(&format!("enr:{s}")).is_err());
        }
    }

    #[test]
    fn rlp_decoder_rejects_non_canonical_and_nested() {
        assert!(rlp_decode_bytes_list(&[0xc1, 0x81, 0x05]).is_none()); // 0x05 wrapped
        assert!(rlp_decode_bytes_list(&[0xc2, 0xc1, 0x01]).is_none()); // nested list
        assert!(rlp_decode_bytes_list(&[0xc2, 0x01]).is_none()); // short payload
        assert!(rlp_decode_bytes_list(&[0xc1, 0x01, 0x02]).is_none()); // trailing
        assert!(rlp_decode_bytes_list(&[0xf8, 0x01, 0x01]).is_none()); // long form < 56
        assert!(
            rlp_decode_bytes_list(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
                .is_none()
        );
        assert_eq!(
            rlp_decode_bytes_list(&[0xc3, 0x01, 0x81, 0x80]).unwrap(),
            vec![&[1u8][..], &[0x80u8][..]]
        );
        let long = [7u8; 60];
        let enc = rlp_encode_list(&[&long[..], &[][..]]);
        assert_eq!(
            rlp_decode_bytes_list(&enc).unwrap(),
            vec![&long[..], &[][..]]
        );
    }

    #[test]
    fn ports_out_of_range_rejected() {
        assert_eq!(port(&[0, 0, 1], "tcp"), Ok(1));
        assert!(port(&[1, 0, 0], "tcp").is_err());
        assert_eq!(port(&[], "tcp"), Ok(0));
    }
}
