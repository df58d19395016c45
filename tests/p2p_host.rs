//! Real libp2p over loopback: a relay server, hosts that find it only through
//! its HTTP URL, streams both ways, the dial rule and the gater.

use std::collections::BTreeSet;
use std::time::Duration;

use charon_dkg_sidecar::p2p::dial::Compat;
use charon_dkg_sidecar::p2p::host::{Host, HostConfig, HostError, PeerEvent};
use charon_dkg_sidecar::p2p::identity::EnrPrivateKey;
use charon_dkg_sidecar::p2p::relay::{RelayServer, RelayServerConfig};
use charon_dkg_sidecar::p2p::relay_http::{ClusterHeaders, RelaySpec};
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::PeerId;
use tokio::time::timeout;

const ECHO: &str = "/charon-dkg-sidecar/test/echo/1.0.0";
const LIMIT: Duration = Duration::from_secs(30);

async fn start_relay() -> RelayServer {
    let mut cfg = RelayServerConfig::new(
        EnrPrivateKey::generate(),
        vec!["127.0.0.1:0".parse().unwrap()],
    );
    cfg.http_addr = Some("127.0.0.1:0".parse().unwrap());
    cfg.advertise_private = true;
    RelayServer::start(cfg).await.unwrap()
}

fn cluster(n: usize) -> (Vec<EnrPrivateKey>, Vec<PeerId>) {
    let keys: Vec<EnrPrivateKey> = (0..n).map(|_| EnrPrivateKey::generate()).collect();
    let peers = keys.iter().map(|k| k.peer_id().unwrap()).collect();
    (keys, peers)
}

fn config(key: &EnrPrivateKey, peers: &[PeerId], relays: Vec<RelaySpec>) -> HostConfig {
    let mut cfg = HostConfig::new(key.clone(), peers.to_vec());
    cfg.relays = relays;
    cfg.cluster_headers = ClusterHeaders {
        definition_hash_hex: "ab".repeat(32),
        uuid: "0194FDC2-FA2F-FCC0-41D3-FF12045B73C8".into(),
    };
    cfg.open_timeout = Duration::from_secs(20);
    cfg
}

/// Serves the echo protocol: replies `echo:<request>` to each stream.
fn serve_echo(host: &Host) {
    let mut incoming = host.accept(ECHO).unwrap();
    tokio::spawn(async move {
        while let Some((_peer, mut stream)) = incoming.next().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if stream.read_to_end(&mut buf).await.is_ok() {
                    let mut reply = b"echo:".to_vec();
                    reply.extend_from_slice(&buf);
                    let _ = stream.write_all(&reply).await;
                    let _ = stream.close().await;
                }
            });
        }
    });
}

async fn echo(host: &Host, peer: PeerId, msg: &[u8]) -> Vec<u8> {
    let mut stream = host.open_stream(peer, ECHO).await.unwrap();
    stream.write_all(msg).await.unwrap();
    stream.close().await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    reply
}

async fn start_hosts(cfgs: Vec<HostConfig>) -> Vec<Host> {
    let hosts: Vec<Host> = cfgs.into_iter().map(|c| Host::new(c).unwrap()).collect();
    for h in &hosts {
        serve_echo(h);
    }
    for h in &hosts {
        h.start().await.unwrap();
    }
    hosts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_meet_through_relay_url_and_exchange_bytes() {
    timeout(LIMIT * 2, async {
        let relay = start_relay().await;
        let url = format!("http://{}", relay.http_addr().unwrap());
        let (keys, peers) = cluster(3);
        let cfgs = keys
            .iter()
            .map(|k| config(k, &peers, vec![RelaySpec::parse(&url).unwrap()]))
            .collect();
        let hosts = start_hosts(cfgs).await;
        let mut events: Vec<_> = hosts.iter().map(|h| h.subscribe_events()).collect();

        for h in &hosts {
            h.wait_all_connected(LIMIT).await.unwrap();
            // Every host holds a reservation on the relay.
            let mut res = h.watch_reservations();
            res.wait_for(|r| r.contains(&relay.peer_id()))
                .await
                .unwrap();
        }
        // Streams in both directions on every pair.
        for (i, a) in hosts.iter().enumerate() {
            for (j, b) in hosts.iter().enumerate() {
                if i == j {
                    continue;
                }
                let msg = format!("from {i} to {j}");
                let reply = echo(a, b.local_peer_id(), msg.as_bytes()).await;
                assert_eq!(reply, format!("echo:{msg}").into_bytes());
            }
        }
        // A 1 MiB payload survives the relay intact.
        let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let reply = echo(&hosts[0], peers[2], &big).await;
        assert_eq!(&reply[..5], b"echo:");
        assert_eq!(&reply[5..], &big[..]);

        // No host has listen addresses other than relay circuits, so every
        // connection is relayed, and (v1.11 rule) the smaller ID dialed.
        for (i, rx) in events.iter_mut().enumerate() {
            while let Ok(ev) = rx.try_recv() {
                if let PeerEvent::Connected {
                    peer,
                    relayed,
                    outbound,
                    ..
                } = ev
                {
                    assert!(relayed);
                    assert_eq!(outbound, peers[i].to_bytes() < peer.to_bytes());
                }
            }
        }
        for h in &hosts {
            h.shutdown().await;
        }
        relay.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_smaller_peer_id_dials_through_the_relay() {
    timeout(LIMIT * 2, async {
        let relay = start_relay().await;
        let url = format!("http://{}/enr", relay.http_addr().unwrap());
        let (keys, peers) = cluster(2);
        let (small, large) = if peers[0].to_bytes() < peers[1].to_bytes() {
            (0, 1)
        } else {
            (1, 0)
        };
        // Start only the larger side: it has no route to the smaller one.
        let large_host = Host::new(config(
            &keys[large],
            &peers,
            vec![RelaySpec::parse(&url).unwrap()],
        ))
        .unwrap();
        serve_echo(&large_host);
        let mut large_events = large_host.subscribe_events();
        large_host.start().await.unwrap();
        large_host
            .watch_reservations()
            .wait_for(|r| !r.is_empty())
            .await
            .unwrap();
        let err = large_host
            .open_stream_within(peers[small], ECHO, Duration::from_millis(1500))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::OpenTimeout(_)), "{err}");

        // The smaller side comes up and dials; the larger side sees an
        // inbound relayed connection and can then open streams.
        let small_host = Host::new(config(
            &keys[small],
            &peers,
            vec![RelaySpec::parse(&url).unwrap()],
        ))
        .unwrap();
        serve_echo(&small_host);
        small_host.start().await.unwrap();
        let reply = echo(&large_host, peers[small], b"hi").await;
        assert_eq!(reply, b"echo:hi");
        let ev = large_events.recv().await.unwrap();
        assert_eq!(
            ev,
            PeerEvent::Connected {
                peer: peers[small],
                index: small,
                relayed: true,
                outbound: false
            }
        );
        small_host.shutdown().await;
        large_host.shutdown().await;
        relay.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_10_compat_hosts_connect_through_a_relay_multiaddr() {
    // Which side wins the race to dial is not deterministic when both dial
    // (v1.10); the per-side rule itself is covered by the dial unit tests.
    timeout(LIMIT * 2, async {
        let relay = start_relay().await;
        let relay_addr = format!("{}/p2p/{}", relay.advertised_addrs()[0], relay.peer_id());
        let (keys, peers) = cluster(2);
        let cfgs = (0..2)
            .map(|i| {
                let mut c = config(
                    &keys[i],
                    &peers,
                    vec![RelaySpec::parse(&relay_addr).unwrap()],
                );
                c.compat = Compat::V1_10;
                c
            })
            .collect();
        let hosts = start_hosts(cfgs).await;
        assert_eq!(echo(&hosts[1], peers[0], b"v1.10").await, b"echo:v1.10");
        assert_eq!(echo(&hosts[0], peers[1], b"back").await, b"echo:back");
        for h in &hosts {
            h.shutdown().await;
        }
        relay.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_addresses_connect_without_relay() {
    timeout(LIMIT, async {
        let (keys, peers) = cluster(2);
        let mut a_cfg = config(&keys[0], &peers, vec![]);
        a_cfg.tcp_listen = vec!["127.0.0.1:0".parse().unwrap()];
        let a = Host::new(a_cfg).unwrap();
        serve_echo(&a);
        a.start().await.unwrap();
        let mut addrs = a.watch_listen_addrs();
        let a_addr = addrs.wait_for(|v| !v.is_empty()).await.unwrap()[0].clone();

        let mut b_cfg = config(&keys[1], &peers, vec![]);
        b_cfg.direct_addrs.insert(peers[0], vec![a_addr]);
        let b = Host::new(b_cfg).unwrap();
        serve_echo(&b);
        let mut events = b.subscribe_events();
        b.start().await.unwrap();
        assert_eq!(echo(&b, peers[0], b"direct").await, b"echo:direct");
        // Once connected, streams flow the other way over the same connection.
        assert_eq!(echo(&a, peers[1], b"back").await, b"echo:back");
        let ev = events.recv().await.unwrap();
        assert!(matches!(
            ev,
            PeerEvent::Connected {
                relayed: false,
                outbound: true,
                ..
            }
        ));
        assert_eq!(a.connected_peers(), BTreeSet::from([peers[1]]));
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gater_refuses_peers_outside_the_cluster() {
    timeout(LIMIT * 2, async {
        let (keys, peers) = cluster(2);
        let stranger_key = EnrPrivateKey::generate();
        let stranger = stranger_key.peer_id().unwrap();

        // Direct path: the stranger knows A's address and dials it.
        let mut a_cfg = config(&keys[0], &peers, vec![]);
        a_cfg.tcp_listen = vec!["127.0.0.1:0".parse().unwrap()];
        let a = Host::new(a_cfg).unwrap();
        serve_echo(&a);
        let mut a_events = a.subscribe_events();
        a.start().await.unwrap();
        let a_addr = a
            .watch_listen_addrs()
            .wait_for(|v| !v.is_empty())
            .await
            .unwrap()[0]
            .clone();

        // The stranger believes it is in a cluster with A.
        let mut s_cfg = config(&stranger_key, &[peers[0], stranger], vec![]);
        s_cfg.direct_addrs.insert(peers[0], vec![a_addr.clone()]);
        s_cfg.compat = Compat::V1_10;
        let s = Host::new(s_cfg).unwrap();
        s.start().await.unwrap();
        let err = s
            .open_stream_within(peers[0], ECHO, Duration::from_secs(3))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::OpenTimeout(_)), "{err}");
        assert!(!a.connected_peers().contains(&stranger));

        // Relay path: both use the same relay; A still refuses the stranger
        // while admitting its real cluster peer B.
        let relay = start_relay().await;
        let url = format!("http://{}", relay.http_addr().unwrap());
        let mut s2_cfg = config(
            &stranger_key,
            &[peers[0], stranger],
            vec![RelaySpec::parse(&url).unwrap()],
        );
        s2_cfg.compat = Compat::V1_10;
        s.shutdown().await;
        a.shutdown().await;
        let mut a2_cfg = config(&keys[0], &peers, vec![RelaySpec::parse(&url).unwrap()]);
        a2_cfg.compat = Compat::V1_10;
        let a2 = Host::new(a2_cfg).unwrap();
        serve_echo(&a2);
        a2.start().await.unwrap();
        a2.watch_reservations()
            .wait_for(|r| !r.is_empty())
            .await
            .unwrap();
        let s2 = Host::new(s2_cfg).unwrap();
        s2.start().await.unwrap();
        let err = s2
            .open_stream_within(peers[0], ECHO, Duration::from_secs(3))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::OpenTimeout(_)), "{err}");
        assert!(!a2.connected_peers().contains(&stranger));

        let mut b_cfg = config(&keys[1], &peers, vec![RelaySpec::parse(&url).unwrap()]);
        b_cfg.compat = Compat::V1_10;
        let b = Host::new(b_cfg).unwrap();
        b.start().await.unwrap();
        assert_eq!(echo(&b, peers[0], b"member").await, b"echo:member");
        while let Ok(ev) = a_events.try_recv() {
            if let PeerEvent::Connected { peer, .. } = ev {
                assert_ne!(peer, stranger);
            }
        }
        // Strangers cannot be addressed through the host API either.
        assert!(matches!(
            b.open_stream(stranger, ECHO).await,
            Err(HostError::UnknownPeer(_))
        ));
        for h in [s2, a2, b] {
            h.shutdown().await;
        }
        relay.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_rejects_key_outside_cluster_and_bad_protocols() {
    let (keys, peers) = cluster(2);
    let outsider = EnrPrivateKey::generate();
    assert!(matches!(
        Host::new(config(&outsider, &peers, vec![])),
        Err(HostError::NotInCluster(_))
    ));
    let h = Host::new(config(&keys[0], &peers, vec![])).unwrap();
    assert!(matches!(
        h.accept("no-slash"),
        Err(HostError::InvalidProtocol(_))
    ));
    let _first = h.accept(ECHO).unwrap();
    assert!(matches!(
        h.accept(ECHO),
        Err(HostError::AlreadyAccepting(_))
    ));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_fails_when_no_relay_resolves() {
    timeout(LIMIT, async {
        // A port with nothing listening: every query fails.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (keys, peers) = cluster(2);
        let mut cfg = config(
            &keys[0],
            &peers,
            vec![RelaySpec::parse(&format!("http://127.0.0.1:{port}")).unwrap()],
        );
        cfg.relay_resolve_timeout = Duration::from_secs(1);
        let h = Host::new(cfg).unwrap();
        assert!(matches!(h.start().await, Err(HostError::RelayTimeout(_))));
        h.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// A stand-in for an HTTP relay endpoint whose answer the test switches,
/// recording the cluster headers nodes send.
struct FakeRelayUrl {
    body: std::sync::Arc<std::sync::Mutex<String>>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    url: String,
}

async fn fake_relay_url(initial: String) -> FakeRelayUrl {
    use axum::extract::State;
    use axum::http::HeaderMap;
    type Shared = (
        std::sync::Arc<std::sync::Mutex<String>>,
        std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    );
    async fn handler(State((body, seen)): State<Shared>, headers: HeaderMap) -> String {
        let h = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        seen.lock()
            .unwrap()
            .push((h("Charon-Cluster"), h("Cluster-Uuid")));
        body.lock().unwrap().clone()
    }
    let body = std::sync::Arc::new(std::sync::Mutex::new(initial));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/", axum::routing::get(handler))
        .with_state((body.clone(), seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FakeRelayUrl { body, seen, url }
}

fn relay_json(relay: &RelayServer) -> String {
    let list: Vec<String> = relay
        .advertised_addrs()
        .iter()
        .map(|a| format!("{a}/p2p/{}", relay.peer_id()))
        .collect();
    serde_json::to_string(&list).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_follow_a_relay_that_changes_identity_and_reconnect() {
    timeout(LIMIT * 3, async {
        let relay1 = start_relay().await;
        let fake = fake_relay_url(relay_json(&relay1)).await;
        let (keys, peers) = cluster(2);
        let cfgs = keys
            .iter()
            .map(|k| {
                let mut c = config(k, &peers, vec![RelaySpec::parse(&fake.url).unwrap()]);
                c.relay_refresh = Duration::from_millis(300);
                c
            })
            .collect();
        let hosts = start_hosts(cfgs).await;
        for h in &hosts {
            h.wait_all_connected(LIMIT).await.unwrap();
        }
        assert_eq!(echo(&hosts[0], peers[1], b"one").await, b"echo:one");

        // The relay is replaced by one with a new identity and port; the
        // URL now names it, and the old one goes away with its circuits.
        let relay2 = start_relay().await;
        *fake.body.lock().unwrap() = relay_json(&relay2);
        relay1.shutdown().await;
        for h in &hosts {
            h.watch_reservations()
                .wait_for(|r| r.contains(&relay2.peer_id()))
                .await
                .unwrap();
        }
        for h in &hosts {
            h.wait_all_connected(LIMIT).await.unwrap();
        }
        assert_eq!(echo(&hosts[1], peers[0], b"two").await, b"echo:two");
        assert_eq!(echo(&hosts[0], peers[1], b"three").await, b"echo:three");

        let seen = fake.seen.lock().unwrap().clone();
        assert!(seen.len() >= 2);
        for (cluster, uuid) in seen {
            assert_eq!(cluster, "ab".repeat(32));
            assert_eq!(uuid, "0194FDC2-FA2F-FCC0-41D3-FF12045B73C8");
        }
        for h in &hosts {
            h.shutdown().await;
        }
        relay2.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_messages_are_delivered_and_acknowledged_before_close() {
    use charon_dkg_sidecar::p2p::streams::send_once;
    const ACKED: &str = "/charon-dkg-sidecar/test/acked/1.0.0";
    timeout(LIMIT, async {
        let (keys, peers) = cluster(2);
        let mut a_cfg = config(&keys[0], &peers, vec![]);
        a_cfg.tcp_listen = vec!["127.0.0.1:0".parse().unwrap()];
        let a = Host::new(a_cfg).unwrap();
        // The receiver reads the whole message, then acknowledges with 0x00
        // like a Go handler returning a nil response.
        let mut incoming = a.accept(ACKED).unwrap();
        let (got_tx, mut got_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some((_, mut s)) = incoming.next().await {
                let got_tx = got_tx.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    s.read_to_end(&mut buf).await.unwrap();
                    s.write_all(&[0]).await.unwrap();
                    s.close().await.unwrap();
                    got_tx.send(buf).unwrap();
                });
            }
        });
        a.start().await.unwrap();
        let a_addr = a
            .watch_listen_addrs()
            .wait_for(|v| !v.is_empty())
            .await
            .unwrap()[0]
            .clone();
        let mut b_cfg = config(&keys[1], &peers, vec![]);
        b_cfg.direct_addrs.insert(peers[0], vec![a_addr]);
        let b = Host::new(b_cfg).unwrap();
        b.start().await.unwrap();
        for size in [0usize, 1, 70_000, 3 << 20] {
            let msg: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let mut s = b.open_stream(peers[0], ACKED).await.unwrap();
            let ack = send_once(&mut s, &msg, Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(ack, vec![0], "size {size}");
            assert_eq!(got_rx.recv().await.unwrap(), msg);
        }
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_lists_the_registered_protocols() {
    use libp2p::swarm::SwarmEvent;
    use libp2p::{StreamProtocol, identify, noise, tcp, yamux};
    timeout(LIMIT, async {
        let (keys, peers) = cluster(2);
        let mut a_cfg = config(&keys[0], &peers, vec![]);
        a_cfg.tcp_listen = vec!["127.0.0.1:0".parse().unwrap()];
        let a = Host::new(a_cfg).unwrap();
        serve_echo(&a);
        a.start().await.unwrap();
        let a_addr = a
            .watch_listen_addrs()
            .wait_for(|v| !v.is_empty())
            .await
            .unwrap()[0]
            .clone();

        // A bare identify-only peer holding the second cluster key, standing
        // in for a Go node that reads the protocol list before any stream.
        let kp = keys[1].to_keypair().unwrap();
        let mut probe = libp2p::SwarmBuilder::with_existing_identity(kp.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|k| {
                identify::Behaviour::new(identify::Config::new("ipfs/0.1.0".into(), k.public()))
            })
            .unwrap()
            .build();
        probe.dial(a_addr).unwrap();
        let info = loop {
            if let SwarmEvent::Behaviour(identify::Event::Received { info, .. }) =
                probe.select_next_some().await
            {
                break info;
            }
        };
        for p in [ECHO, "/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"] {
            assert!(
                info.protocols
                    .contains(&StreamProtocol::try_from_owned(p.into()).unwrap()),
                "{p} missing from {:?}",
                info.protocols
            );
        }
        assert!(info.agent_version.starts_with("charon-dkg-sidecar/"));
        assert_eq!(info.public_key.to_peer_id(), peers[0]);
        a.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// charon peers open their streams to us all at once after each barrier and
/// never resend: every inbound stream must be kept, even when the node is
/// not reading its accept queue at that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_inbound_streams_is_queued_not_dropped() {
    const SENDERS: usize = 6;
    const PER_SENDER: usize = 20;
    const BURST: &str = "/test/burst/1.0.0";
    timeout(LIMIT * 2, async {
        let (keys, peers) = cluster(SENDERS + 1);
        let mut a_cfg = config(&keys[0], &peers, vec![]);
        a_cfg.tcp_listen = vec!["127.0.0.1:0".parse().unwrap()];
        let a = Host::new(a_cfg).unwrap();
        let mut incoming = a.accept(BURST).unwrap();
        a.start().await.unwrap();
        let a_addr = a
            .watch_listen_addrs()
            .wait_for(|v| !v.is_empty())
            .await
            .unwrap()[0]
            .clone();

        let mut senders = Vec::new();
        for key in &keys[1..] {
            let mut cfg = config(key, &peers, vec![]);
            cfg.direct_addrs.insert(peers[0], vec![a_addr.clone()]);
            let h = Host::new(cfg).unwrap();
            h.start().await.unwrap();
            senders.push(h);
        }
        // Every sender fires all its one-way streams at once (write, FIN,
        // no answer awaited) while node A does not read its queue.
        let target = peers[0];
        let sends = senders.iter().enumerate().flat_map(|(i, h)| {
            (0..PER_SENDER).map(move |k| async move {
                let mut s = h.open_stream(target, BURST).await.unwrap();
                s.write_all(format!("{i}:{k}").as_bytes()).await.unwrap();
                s.close().await.unwrap();
            })
        });
        futures::future::join_all(sends).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let mut got = BTreeSet::new();
        while got.len() < SENDERS * PER_SENDER {
            let (_peer, mut s) = incoming.next().await.unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            assert!(got.insert(String::from_utf8(buf).unwrap()), "duplicate");
        }
        for h in senders {
            h.shutdown().await;
        }
        a.shutdown().await;
    })
    .await
    .expect("streams were lost: not every inbound stream reached the accept queue");
}

/// A cluster peer opening far more streams than a ceremony needs gets only
/// `MAX_INBOUND_STREAMS_PER_PEER` handler tasks at once; the rest are reset
/// without a task, and slots free up as handlers finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_opening_many_streams_is_capped() {
    use charon_dkg_sidecar::dkg::net::{StreamBudget, spawn_accept_loop};
    use charon_dkg_sidecar::p2p::limits::MAX_INBOUND_STREAMS_PER_PEER as MAX;
    use std::collections::HashMap;
    use std::sync::Arc;
    const HOLD: &str = "/test/hold/1.0.0";
    const EXTRA: usize = 8;
    timeout(LIMIT * 2, async {
        let (keys, peers) = cluster(2);
        let mut a_cfg = config(&keys[0], &peers, vec![]);
        a_cfg.tcp_listen = vec!["127.0.0.1:0".parse().unwrap()];
        let a = Host::new(a_cfg).unwrap();
        let incoming = a.accept(HOLD).unwrap();
        let budget = StreamBudget::default();
        let (release_tx, release) = tokio::sync::watch::channel(false);
        let index: Arc<HashMap<PeerId, usize>> =
            Arc::new(peers.iter().enumerate().map(|(i, p)| (*p, i)).collect());
        spawn_accept_loop(
            incoming,
            HOLD,
            index,
            budget.clone(),
            move |_sender, mut s| {
                let mut release = release.clone();
                async move {
                    let _ = release.wait_for(|r| *r).await;
                    let _ = s.write_all(b"ok").await;
                    let _ = s.close().await;
                }
            },
        );
        a.start().await.unwrap();
        let a_addr = a
            .watch_listen_addrs()
            .wait_for(|v| !v.is_empty())
            .await
            .unwrap()[0]
            .clone();
        let mut b_cfg = config(&keys[1], &peers, vec![]);
        b_cfg.direct_addrs.insert(peers[0], vec![a_addr]);
        let b = Host::new(b_cfg).unwrap();
        b.start().await.unwrap();

        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let b = Arc::new(b);
        for _ in 0..MAX + EXTRA {
            let (b, done_tx) = (b.clone(), done_tx.clone());
            let target = peers[0];
            tokio::spawn(async move {
                let mut s = b.open_stream(target, HOLD).await.unwrap();
                // A refused stream may be reset before or during the write.
                let _ = s.write_all(b"x").await;
                let _ = s.close().await;
                let mut buf = Vec::new();
                let answered = s.read_to_end(&mut buf).await.is_ok() && buf == b"ok";
                let _ = done_tx.send(answered);
            });
        }
        // The streams over the cap end first, unanswered, while the others
        // are all held by their handlers.
        for _ in 0..EXTRA {
            assert!(
                !done_rx.recv().await.unwrap(),
                "a stream over the cap was served"
            );
        }
        assert_eq!(budget.open_streams(1), MAX);
        release_tx.send_replace(true);
        for _ in 0..MAX {
            assert!(
                done_rx.recv().await.unwrap(),
                "an admitted stream was not served"
            );
        }
        while budget.open_streams(1) != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_listen_port_is_reported_with_the_os_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (keys, peers) = cluster(2);
    let mut cfg = config(&keys[0], &peers, vec![]);
    cfg.tcp_listen = vec![addr];
    let host = Host::new(cfg).unwrap();
    let err = host.start().await.unwrap_err().to_string();
    assert!(err.contains(&addr.port().to_string()), "{err}");
    assert!(err.to_lowercase().contains("in use"), "{err}");
}
