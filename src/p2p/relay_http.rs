//! Relay discovery over HTTP, both sides of charon's convention
//! (`p2p/bootnode.go`, `cmd/relay/relay.go`):
//!
//! * nodes `GET` a relay URL with `Charon-Cluster: <definition hash hex>` and
//!   `Cluster-Uuid: <uuid>` headers; the body is either an ENR (`enr:…`) or a
//!   JSON array of multiaddrs each ending in `/p2p/<relay id>`;
//! * relays answer `/` with that JSON array and `/enr` with a signed ENR.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::identity::EnrPrivateKey;
use super::relay_enr::{EnrError, encode_enr, relay_multiaddrs_from_enr};

/// Largest relay response body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Timeout of one relay HTTP query.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a relay URL is polled again for changed addresses.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(120);

/// Errors configuring or resolving relays.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A relay entry is neither an http(s) URL nor a multiaddr.
    #[error("invalid relay multiaddr {addr:?}: {reason}")]
    InvalidMultiaddr {
        /// The entry as given.
        addr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A relay URL cannot be parsed or has a scheme other than http/https.
    #[error("invalid relay url {0:?}: scheme must be http or https")]
    InvalidUrl(String),
    /// The HTTP request failed.
    #[error("query relay {url}: {reason}")]
    Http {
        /// The relay URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The response body was neither an ENR nor a JSON list of multiaddrs.
    #[error("relay {url} answered with an unusable body: {reason}")]
    Body {
        /// The relay URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The addresses name no or several relay peer IDs.
    #[error("relay addresses must name exactly one relay peer id, found {0}")]
    PeerCount(usize),
    /// An address lacks its `/p2p/<id>` suffix.
    #[error("relay address {0} does not end in /p2p/<relay id>")]
    MissingPeerId(String),
}

/// One configured relay: a multiaddr with its peer ID, or a URL to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelaySpec {
    /// A fixed relay address ending in `/p2p/<id>`.
    Addr {
        /// The relay's peer ID.
        peer: PeerId,
        /// The full address.
        addr: Multiaddr,
    },
    /// An http(s) URL answering with the relay's addresses.
    Url(String),
}

impl RelaySpec {
    /// Parses one `--p2p-relays` entry as charon does: entries starting with
    /// `http` are URLs, everything else must be a multiaddr ending in `/p2p/<id>`.
    pub fn parse(entry: &str) -> Result<Self, RelayError> {
        let entry = entry.trim();
        if entry.starts_with("http") {
            let url =
                reqwest::Url::parse(entry).map_err(|_| RelayError::InvalidUrl(entry.into()))?;
            if url.scheme() != "http" && url.scheme() != "https" {
                return Err(RelayError::InvalidUrl(entry.into()));
            }
            // Plain http to a loopback relay (the demo, local clusters) never
            // leaves the machine; anywhere else it is worth a warning.
            if url.scheme() == "http" {
                if is_loopback_host(&url) {
                    tracing::debug!(addr = entry, "Relay URL uses http on loopback");
                } else {
                    tracing::warn!(addr = entry, "Relay URL does not use https protocol");
                }
            }
            return Ok(Self::Url(entry.to_owned()));
        }
        let addr: Multiaddr =
            entry
                .parse()
                .map_err(|e: libp2p::multiaddr::Error| RelayError::InvalidMultiaddr {
                    addr: entry.into(),
                    reason: e.to_string(),
                })?;
        let peer = peer_of(&addr).ok_or_else(|| RelayError::InvalidMultiaddr {
            addr: entry.into(),
            reason: "missing /p2p/<relay id> suffix".into(),
        })?;
        Ok(Self::Addr { peer, addr })
    }
}

/// True for `localhost` and loopback IP literals.
fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses `--p2p-relays` entries (already split on commas), skipping blanks.
pub fn parse_relay_list<S: AsRef<str>>(entries: &[S]) -> Result<Vec<RelaySpec>, RelayError> {
    entries
        .iter()
        .map(|e| e.as_ref().trim())
        .filter(|e| !e.is_empty())
        .map(RelaySpec::parse)
        .collect()
}

/// The trailing `/p2p/<id>` of an address.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(p)) => Some(p),
        _ => None,
    }
}

/// The cluster identification sent with every relay query.
#[derive(Debug, Clone, Default)]
pub struct ClusterHeaders {
    /// Definition hash as lowercase hex without `0x` (`Charon-Cluster`).
    pub definition_hash_hex: String,
    /// Definition UUID (`Cluster-Uuid`).
    pub uuid: String,
}

/// A relay identity and its addresses, as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRelay {
    /// Position of the relay in the configured list.
    pub index: usize,
    /// The relay's peer ID.
    pub peer: PeerId,
    /// All addresses, sorted, each ending in `/p2p/<peer>`.
    pub addrs: Vec<Multiaddr>,
}

/// Parses a relay response body: an ENR or a JSON list of multiaddrs.
/// Unparseable list entries are skipped with a warning, as charon does.
pub fn parse_relay_body(body: &[u8]) -> Result<Vec<Multiaddr>, String> {
    if body.starts_with(b"enr:") {
        let text = std::str::from_utf8(body).map_err(|_| "enr is not utf-8".to_string())?;
        return relay_multiaddrs_from_enr(text).map_err(|e: EnrError| e.to_string());
    }
    let list: Vec<String> =
        serde_json::from_slice(body).map_err(|e| format!("not an ENR or JSON list: {e}"))?;
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        match s.parse::<Multiaddr>() {
            Ok(a) => out.push(a),
            Err(e) => tracing::warn!(addr = %s, error = %e, "Skipping unparseable relay multiaddr"),
        }
    }
    Ok(out)
}

/// The single relay peer ID that all `addrs` name.
pub fn single_relay_peer(addrs: &[Multiaddr]) -> Result<PeerId, RelayError> {
    let mut peers = std::collections::BTreeSet::new();
    for a in addrs {
        peers.insert(peer_of(a).ok_or_else(|| RelayError::MissingPeerId(a.to_string()))?);
    }
    match (peers.len(), peers.into_iter().next()) {
        (1, Some(p)) => Ok(p),
        (n, _) => Err(RelayError::PeerCount(n)),
    }
}

/// One GET of a relay URL; returns the parsed addresses.
pub async fn query_relay_addrs(
    client: &reqwest::Client,
    url: &str,
    headers: &ClusterHeaders,
) -> Result<Vec<Multiaddr>, RelayError> {
    let http_err = |reason: String| RelayError::Http {
        url: url.into(),
        reason,
    };
    let mut resp = client
        .get(url)
        .header("Charon-Cluster", &headers.definition_hash_hex)
        .header("Cluster-Uuid", &headers.uuid)
        .timeout(QUERY_TIMEOUT)
        .send()
        .await
        .map_err(|e| http_err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(http_err(format!("status {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| http_err(e.to_string()))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(RelayError::Body {
                url: url.into(),
                reason: format!("larger than {MAX_BODY} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    parse_relay_body(&body).map_err(|reason| RelayError::Body {
        url: url.into(),
        reason,
    })
}

/// Polls a relay URL for as long as `updates` is open: retries failures with
/// exponential backoff (100 ms doubling to 5 s), and reports the relay whenever
/// its sorted address set changes, then waits `refresh` before polling again.
pub async fn resolve_relay_url(
    index: usize,
    url: String,
    headers: ClusterHeaders,
    refresh: Duration,
    updates: mpsc::Sender<ResolvedRelay>,
) {
    let client = reqwest::Client::new();
    let mut previous: Option<Vec<Multiaddr>> = None;
    loop {
        let mut backoff = Duration::from_millis(100);
        let addrs = loop {
            if updates.is_closed() {
                return;
            }
            match query_relay_addrs(&client, &url, &headers).await {
                Ok(addrs) => break addrs,
                Err(e) => {
                    tracing::warn!(url = %url, error = %e, "Failure querying relay addresses (will try again)");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        let mut sorted = addrs;
        sorted.sort_by_key(|a| a.to_string());
        if previous.as_ref() != Some(&sorted) {
            previous = Some(sorted.clone());
            match single_relay_peer(&sorted) {
                Ok(peer) => {
                    tracing::info!(url = %url, relay = %peer, addrs = ?sorted, "Resolved new relay");
                    let update = ResolvedRelay {
                        index,
                        peer,
                        addrs: sorted,
                    };
                    if updates.send(update).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(url = %url, error = %e, "Relay addresses unusable; check the relay configuration");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(refresh) => {}
            _ = updates.closed() => return,
        }
    }
}

/// What a relay's HTTP server knows about itself.
#[derive(Clone)]
pub struct RelayHttpState {
    /// The relay's identity key (signs the ENR).
    pub key: EnrPrivateKey,
    /// The relay's peer ID.
    pub peer: PeerId,
    /// Advertised transport addresses (without `/p2p`), updated by the swarm.
    pub addrs: Arc<RwLock<Vec<Multiaddr>>>,
    /// `--p2p-external-ip`, replacing the IP in the ENR.
    pub external_ip: Option<IpAddr>,
    /// `--p2p-external-hostname`, resolved for the ENR when no IP is given.
    pub external_host: Option<String>,
}

impl RelayHttpState {
    fn current_addrs(&self) -> Vec<Multiaddr> {
        match self.addrs.read() {
            Ok(a) => a.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// The relay's HTTP routes: `/enr` (GET) and, like charon's catch-all `/`,
/// the JSON multiaddrs for any other path and method.
pub fn router(state: RelayHttpState) -> Router {
    Router::new()
        .route("/enr", get(enr_handler))
        .fallback(multiaddrs_handler)
        .with_state(state)
}

fn log_request(path: &str, headers: &HeaderMap) {
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    tracing::debug!(
        path,
        cluster = %get("Charon-Cluster"),
        uuid = %get("Cluster-Uuid"),
        "Relay address query"
    );
}

async fn multiaddrs_handler(State(state): State<RelayHttpState>, headers: HeaderMap) -> Response {
    log_request("/", &headers);
    let list: Vec<String> = state
        .current_addrs()
        .into_iter()
        .map(|a| a.with(Protocol::P2p(state.peer)).to_string())
        .collect();
    match serde_json::to_vec(&list) {
        Ok(body) => body.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "HTTP handler error");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn enr_handler(State(state): State<RelayHttpState>, headers: HeaderMap) -> Response {
    log_request("/enr", &headers);
    let mut override_ip = state.external_ip;
    if override_ip.is_none()
        && let Some(host) = &state.external_host
    {
        let resolved = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host.as_str(), 0)),
        )
        .await;
        match resolved {
            Ok(Ok(mut it)) => override_ip = it.next().map(|sa| sa.ip()),
            _ => tracing::warn!(host = %host, "Failed to resolve external host"),
        }
    }
    match enr_for(&state.key, &state.current_addrs(), override_ip) {
        Some(enr) => enr.into_response(),
        None => {
            tracing::error!("HTTP handler error: no IPv4 TCP address to put in the ENR");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The ENR of a relay with the given advertised addresses: the first TCP
/// address (public ones first) with the IP optionally replaced; UDP is the
/// dummy 9999 charon uses when it has no QUIC address.
pub fn enr_for(
    key: &EnrPrivateKey,
    addrs: &[Multiaddr],
    override_ip: Option<IpAddr>,
) -> Option<String> {
    let mut tcp: Vec<(Ipv4Addr, u16)> = addrs
        .iter()
        .filter_map(|a| {
            let mut it = a.iter();
            match (it.next(), it.next()) {
                (Some(Protocol::Ip4(ip)), Some(Protocol::Tcp(port))) => Some((ip, port)),
                _ => None,
            }
        })
        .collect();
    tcp.sort_by_key(|(ip, _)| !is_public_v4(ip));
    let (mut ip, port) = *tcp.first()?;
    if let Some(IpAddr::V4(v4)) = override_ip {
        ip = v4;
    }
    Some(encode_enr(key, ip, port, 9999))
}

/// Whether an IPv4 address is publicly routable.
pub fn is_public_v4(ip: &Ipv4Addr) -> bool {
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_spec_parsing() {
        let key = EnrPrivateKey::generate();
        let peer = key.peer_id().unwrap();
        let addr = format!("/ip4/1.2.3.4/tcp/3610/p2p/{peer}");
        assert_eq!(
            RelaySpec::parse(&addr).unwrap(),
            RelaySpec::Addr {
                peer,
                addr: addr.parse().unwrap()
            }
        );
        assert_eq!(
            RelaySpec::parse("https://4.relay.obol.dev").unwrap(),
            RelaySpec::Url("https://4.relay.obol.dev".into())
        );
        assert!(RelaySpec::parse("/ip4/1.2.3.4/tcp/3610").is_err());
        assert!(RelaySpec::parse("not a thing").is_err());
        assert!(RelaySpec::parse("httpx://foo").is_err());
        let list = parse_relay_list(&["https://4.relay.obol.dev", " ", &addr]).unwrap();
        assert_eq!(list.len(), 2);
        assert!(parse_relay_list(&["https://ok", "bad"]).is_err());
    }

    #[test]
    fn body_parsing_json_and_enr() {
        let key = EnrPrivateKey::generate();
        let peer = key.peer_id().unwrap();
        let json = format!(
            r#"["/ip4/1.2.3.4/tcp/3610/p2p/{peer}","garbage","/ip4/1.2.3.4/udp/3630/quic-v1/p2p/{peer}"]"#
        );
        let addrs = parse_relay_body(json.as_bytes()).unwrap();
        assert_eq!(addrs.len(), 2);
        assert_eq!(single_relay_peer(&addrs).unwrap(), peer);

        let enr = encode_enr(&key, Ipv4Addr::new(1, 2, 3, 4), 3610, 3630);
        let addrs = parse_relay_body(enr.as_bytes()).unwrap();
        assert_eq!(single_relay_peer(&addrs).unwrap(), peer);

        assert!(parse_relay_body(b"{}").is_err());
        assert!(parse_relay_body(b"enr:xyz").is_err());
        assert!(parse_relay_body(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn single_peer_rule() {
        let a = EnrPrivateKey::generate().peer_id().unwrap();
        let b = EnrPrivateKey::generate().peer_id().unwrap();
        let ma = |s: String| s.parse::<Multiaddr>().unwrap();
        assert!(matches!(
            single_relay_peer(&[]),
            Err(RelayError::PeerCount(0))
        ));
        assert!(matches!(
            single_relay_peer(&[
                ma(format!("/ip4/1.1.1.1/tcp/1/p2p/{a}")),
                ma(format!("/ip4/1.1.1.1/tcp/2/p2p/{b}"))
            ]),
            Err(RelayError::PeerCount(2))
        ));
        assert!(matches!(
            single_relay_peer(&[ma("/ip4/1.1.1.1/tcp/1".into())]),
            Err(RelayError::MissingPeerId(_))
        ));
    }

    #[test]
    fn enr_prefers_public_and_applies_override() {
        let key = EnrPrivateKey::generate();
        let addrs: Vec<Multiaddr> = vec![
            "/ip4/127.0.0.1/tcp/1".parse().unwrap(),
            "/ip4/8.8.8.8/tcp/2".parse().unwrap(),
        ];
        let rec = crate::p2p::relay_enr::parse_enr(&enr_for(&key, &addrs, None).unwrap()).unwrap();
        assert_eq!(rec.ip, Some(Ipv4Addr::new(8, 8, 8, 8)));
        assert_eq!((rec.tcp, rec.udp), (Some(2), Some(9999)));
        let rec = crate::p2p::relay_enr::parse_enr(
            &enr_for(&key, &addrs[..1], Some("9.9.9.9".parse().unwrap())).unwrap(),
        )
        .unwrap();
        assert_eq!(rec.ip, Some(Ipv4Addr::new(9, 9, 9, 9)));
        assert!(enr_for(&key, &[], None).is_none());
    }
}
