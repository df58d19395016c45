//! The slice of ENR (EIP-778) that relays need: the record a charon relay
//! serves at `/enr`, and turning such a record into the relay's multiaddrs.
//! The record codec is [`crate::lock::enr`]'s; a relay's record must also be
//! canonically encoded and carry a usable IPv4 address and ports.

use std::net::Ipv4Addr;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use super::identity::{EnrPrivateKey, peer_id_from_k1_pubkey};
use crate::lock::identity::enr::{self, Enr};
use crate::lock::identity::k1::{self, K1Secret};

/// Errors parsing a relay ENR.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnrError {
    /// The record itself does not parse or verify.
    #[error("invalid relay enr: {0}")]
    Record(#[from] enr::EnrError),
    /// The record parses but is not canonically encoded.
    #[error("invalid rlp encoding in enr")]
    Rlp,
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
    /// The relay key cannot make a peer ID.
    #[error("missing or invalid secp256k1 public key in enr")]
    PublicKey,
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
    // A valid relay key always converts and signs; an empty record would fail
    // verification rather than panic.
    let Ok(secret) = K1Secret::from_bytes(key.to_bytes().as_slice()) else {
        return String::new();
    };
    Enr::new(&secret, Some(ip), Some(tcp), Some(udp))
        .map(|record| record.to_string())
        .unwrap_or_default()
}

/// Parses and verifies an ENR as charon does ([`Enr::parse`]), requiring the
/// canonical encoding, a 4-byte `ip` if any and ports that fit 16 bits.
pub fn parse_enr(text: &str) -> Result<RelayRecord, EnrError> {
    let record = Enr::parse(text)?;
    if !enr::is_canonical(text) {
        return Err(EnrError::Rlp);
    }
    let ip = match record.get(b"ip") {
        None => None,
        Some(_) => Some(record.ip().ok_or(EnrError::BadIp)?),
    };
    let tcp = match record.get(b"tcp") {
        None => None,
        Some(_) => Some(record.tcp().ok_or(EnrError::BadPort("tcp"))?),
    };
    let udp = match record.get(b"udp") {
        None => None,
        Some(_) => Some(record.udp().ok_or(EnrError::BadPort("udp"))?),
    };
    Ok(RelayRecord {
        pubkey: k1::compressed(record.public_key()),
        ip,
        tcp,
        udp,
    })
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
        assert_eq!(
            parse_enr("nope"),
            Err(EnrError::Record(enr::EnrError::Prefix))
        );
        assert_eq!(
            parse_enr("enr:!!"),
            Err(EnrError::Record(enr::EnrError::Base64))
        );
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

    fn b64(raw: &[u8]) -> String {
        use base64::Engine as _;
        format!(
            "enr:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        )
    }

    /// A signed record of `id`, `secp256k1` and `extra` (keys sorted).
    fn signed(extra: &[(&[u8], &[u8])]) -> String {
        let sk = K1Secret::from_bytes(&[7u8; 32]).unwrap();
        let pk = k1::compressed(&sk.public_key());
        let mut kvs: Vec<(&[u8], &[u8])> = vec![(b"id", b"v4"), (b"secp256k1", &pk)];
        kvs.extend_from_slice(extra);
        kvs.sort();
        enr::sign_record(&sk, &kvs).unwrap().1
    }

    #[test]
    fn rlp_decoder_rejects_non_canonical_and_nested() {
        let canonical = |raw: &[u8]| enr::is_canonical(&b64(raw));
        assert!(!canonical(&[0xc1, 0x81, 0x05])); // 0x05 wrapped
        assert!(!canonical(&[0xc2, 0xc1, 0x01])); // nested list
        assert!(!canonical(&[0xc2, 0x01])); // short payload
        assert!(!canonical(&[0xc1, 0x01, 0x02])); // trailing
        assert!(!canonical(&[0xf8, 0x01, 0x01])); // long form < 56
        assert!(!canonical(&[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ]));
        assert!(canonical(&[0xc3, 0x01, 0x81, 0x80]));
        let long = [7u8; 60];
        let mut enc = vec![0xf8, 63, 0xb8, 60];
        enc.extend_from_slice(&long);
        enc.push(0x80);
        assert!(canonical(&enc));
        // A verified record with a trailing byte is still refused.
        let key = EnrPrivateKey::generate();
        let good = encode_enr(&key, Ipv4Addr::new(1, 2, 3, 4), 1, 2);
        let mut raw = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&good[4..])
                .unwrap()
        };
        raw.push(0);
        assert!(Enr::parse(&b64(&raw)).is_ok());
        assert_eq!(parse_enr(&b64(&raw)), Err(EnrError::Rlp));
    }

    #[test]
    fn ports_out_of_range_rejected() {
        let ip: &[u8] = &[1, 2, 3, 4];
        let rec = parse_enr(&signed(&[(b"ip", ip), (b"tcp", &[0, 0, 1])])).unwrap();
        assert_eq!((rec.tcp, rec.udp), (Some(1), None));
        assert_eq!(
            parse_enr(&signed(&[(b"ip", ip), (b"tcp", &[1, 0, 0])])),
            Err(EnrError::BadPort("tcp"))
        );
        let rec = parse_enr(&signed(&[(b"ip", ip), (b"udp", &[])])).unwrap();
        assert_eq!(rec.udp, Some(0));
        assert_eq!(
            parse_enr(&signed(&[(b"ip", &[1, 2, 3])])),
            Err(EnrError::BadIp)
        );
    }
}
