//! Protocol logic over in-memory duplex streams: bcast, sync, parsigex, FROST
//! transport and node signatures, happy paths and refusals.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use charon_dkg_sidecar::p2p::bcast::{Bcast, BcastError, Delivery};
use charon_dkg_sidecar::p2p::frame::{self, FrameError, MAX_DELIMITED_SIZE};
use charon_dkg_sidecar::p2p::frostp2p::{self, FrostWireError};
use charon_dkg_sidecar::p2p::k1sig::sign65;
use charon_dkg_sidecar::p2p::limits::WireLimits;
use charon_dkg_sidecar::p2p::nodesig::{self, NodeSigError, NodeSigs};
use charon_dkg_sidecar::p2p::parsigex::{self, ParSigExError};
use charon_dkg_sidecar::p2p::proto::corepb::{Duty, ParSigExMsg};
use charon_dkg_sidecar::p2p::proto::dkgpb::*;
use charon_dkg_sidecar::p2p::proto::{Any, pack_any};
use charon_dkg_sidecar::p2p::protocols::{self, Compat};
use charon_dkg_sidecar::p2p::stream::{OpenStream, SendPolicy, send_with_ack};
use charon_dkg_sidecar::p2p::sync::{RESTART_ERROR, SyncClient, SyncError, SyncLocal, SyncServer};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use k256::ecdsa::{SigningKey, VerifyingKey};
use prost::Message;
use tokio::io::DuplexStream;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::compat::{Compat as IoCompat, TokioAsyncReadCompatExt};

type Pipe = IoCompat<DuplexStream>;

fn pipe() -> (Pipe, Pipe) {
    let (a, b) = tokio::io::duplex(1 << 16);
    (a.compat(), b.compat())
}

fn keys(n: usize) -> Vec<SigningKey> {
    (1..=n as u8)
        .map(|i| SigningKey::from_slice(&[i; 32]).unwrap())
        .collect()
}

fn pubkeys(keys: &[SigningKey]) -> Vec<VerifyingKey> {
    keys.iter().map(|k| *k.verifying_key()).collect()
}

const DEF_HASH: [u8; 32] = [7; 32];
/// Message bounds of a 16-validator, 4-operator ceremony.
const LIMITS: WireLimits = WireLimits {
    validators: 16,
    operators: 4,
    threshold: 3,
};

struct Node {
    bcast: Bcast,
}

/// Routes streams opened by operator `own` to the target node's handlers.
struct MemNet {
    own: usize,
    nodes: Arc<Vec<Arc<Node>>>,
}

impl OpenStream for MemNet {
    type Stream = Pipe;

    fn open(
        &self,
        peer: usize,
        protocol: &'static str,
    ) -> impl std::future::Future<Output = std::io::Result<Pipe>> + Send {
        let node = self.nodes.get(peer).cloned();
        let sender = self.own;
        async move {
            let node = node.ok_or_else(|| std::io::Error::other("no such peer"))?;
            let (client, mut server) = pipe();
            tokio::spawn(async move {
                if protocol.ends_with("/sig") {
                    let _ = node.bcast.serve_sig(sender, &mut server).await;
                } else if protocol.ends_with("/msg") {
                    let _ = node.bcast.serve_msg(sender, &mut server).await;
                }
            });
            Ok(client)
        }
    }
}

struct Cluster {
    nodes: Arc<Vec<Arc<Node>>>,
    round1: Vec<UnboundedReceiver<Delivery>>,
    node_sig: Vec<UnboundedReceiver<Delivery>>,
}

fn cluster(compats: &[Compat]) -> Cluster {
    let ks = keys(compats.len());
    let pks = pubkeys(&ks);
    let mut nodes = Vec::new();
    let mut round1 = Vec::new();
    let mut node_sig = Vec::new();
    for (i, (k, compat)) in ks.into_iter().zip(compats).enumerate() {
        let mut b = Bcast::new(*compat, DEF_HASH, i, k, pks.clone()).unwrap();
        round1.push(b.register::<FrostRound1Casts>(protocols::MSG_FROST_ROUND1_CAST));
        node_sig.push(b.register::<MsgNodeSig>(protocols::MSG_NODE_SIG));
        nodes.push(Arc::new(Node { bcast: b }));
    }
    Cluster {
        nodes: Arc::new(nodes),
        round1,
        node_sig,
    }
}

fn net(c: &Cluster, own: usize) -> MemNet {
    MemNet {
        own,
        nodes: c.nodes.clone(),
    }
}

const FAST: SendPolicy = SendPolicy {
    timeout: Duration::from_secs(5),
    attempts: 1,
    retry_delay: Duration::from_millis(1),
};

fn sample_casts(source: u32, vals: u32, t: usize) -> FrostRound1Casts {
    FrostRound1Casts {
        casts: (0..vals)
            .rev()
            .map(|v| FrostRound1Cast {
                key: Some(FrostMsgKey {
                    val_idx: v,
                    source_id: source,
                    target_id: 0,
                }),
                wi: vec![1; 32],
                ci: vec![2; 32],
                commitments: vec![vec![3; 48]; t],
            })
            .collect(),
    }
}

#[tokio::test]
async fn bcast_delivers_to_every_peer_with_all_signatures() {
    let mut c = cluster(&[Compat::V1_11; 4]);
    let msg = sample_casts(2, 3, 3);
    let sent = c.nodes[1]
        .bcast
        .broadcast(&net(&c, 1), protocols::MSG_FROST_ROUND1_CAST, &msg)
        .await
        .unwrap();
    assert_eq!(
        sent.type_url,
        "type.googleapis.com/dkg.dkgpb.v1.FrostRound1Casts"
    );
    for (i, rx) in c.round1.iter_mut().enumerate() {
        if i == 1 {
            assert!(rx.try_recv().is_err(), "sender does not deliver to itself");
            continue;
        }
        let d = rx.try_recv().unwrap();
        assert_eq!(d.sender, 1);
        assert_eq!(d.message, sent);
        assert_eq!(d.decode::<FrostRound1Casts>().unwrap(), msg);
        assert!(rx.try_recv().is_err());
    }
    // Nothing leaked into another message ID's queue.
    assert!(c.node_sig.iter_mut().all(|rx| rx.try_recv().is_err()));
}

#[tokio::test]
async fn bcast_v1_10_cluster_works_and_mixed_versions_fail() {
    let mut c = cluster(&[Compat::V1_10; 3]);
    let msg = MsgNodeSig {
        signature: vec![9; 65],
        peer_index: 0,
    };
    c.nodes[0]
        .bcast
        .broadcast(&net(&c, 0), protocols::MSG_NODE_SIG, &msg)
        .await
        .unwrap();
    assert_eq!(
        c.node_sig[2]
            .try_recv()
            .unwrap()
            .decode::<MsgNodeSig>()
            .unwrap(),
        msg
    );

    // A v1.10 peer signs a different hash, so a v1.11 sender rejects it.
    let mixed = cluster(&[Compat::V1_11, Compat::V1_10, Compat::V1_11]);
    let err = mixed.nodes[0]
        .bcast
        .broadcast_with(
            &net(&mixed, 0),
            protocols::MSG_NODE_SIG,
            &pack_any(&msg),
            &FAST,
            &FAST,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, BcastError::BadSignature { peer: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn bcast_signs_one_hash_per_sender_and_message_id() {
    let c = cluster(&[Compat::V1_11; 3]);
    let b = &c.nodes[0].bcast;
    let a1 = pack_any(&sample_casts(2, 1, 2));
    let a2 = pack_any(&sample_casts(2, 2, 2));
    let s1 = b.co_sign(1, protocols::MSG_FROST_ROUND1_CAST, &a1).unwrap();
    assert_eq!(
        b.co_sign(1, protocols::MSG_FROST_ROUND1_CAST, &a1).unwrap(),
        s1,
        "same hash is signed again"
    );
    assert!(matches!(
        b.co_sign(1, protocols::MSG_FROST_ROUND1_CAST, &a2),
        Err(BcastError::DuplicateMismatch { peer: 1, .. })
    ));
    // Another sender, or another message ID, is independent.
    b.co_sign(2, protocols::MSG_FROST_ROUND1_CAST, &a2).unwrap();
    // Refusals: unknown ID, wrong type, self or out-of-range sender.
    assert!(matches!(
        b.co_sign(1, "/charon/dkg/other", &a1),
        Err(BcastError::UnknownMessageId(_))
    ));
    assert!(matches!(
        b.co_sign(1, protocols::MSG_NODE_SIG, &a1),
        Err(BcastError::Check { .. })
    ));
    assert!(matches!(
        b.co_sign(0, protocols::MSG_FROST_ROUND1_CAST, &a1),
        Err(BcastError::InvalidSender(0))
    ));
    assert!(matches!(
        b.co_sign(3, protocols::MSG_FROST_ROUND1_CAST, &a1),
        Err(BcastError::InvalidSender(3))
    ));
    let garbage = Any {
        type_url: a1.type_url.clone(),
        value: vec![0xff, 0xff],
    };
    assert!(matches!(
        b.co_sign(2, protocols::MSG_NODE_SIG, &garbage),
        Err(BcastError::Check { .. })
    ));
}

#[tokio::test]
async fn bcast_sig_stream_refusal_writes_nothing() {
    let c = cluster(&[Compat::V1_11; 3]);
    let node = c.nodes[0].clone();
    let (mut client, mut server) = pipe();
    let h = tokio::spawn(async move { node.bcast.serve_sig(1, &mut server).await });
    let req = BCastSigRequest {
        id: "/charon/dkg/unknown".into(),
        message: Some(pack_any(&MsgNodeSig::default())),
    };
    frame::write_msg(&mut client, &req).await.unwrap();
    client.close().await.unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "no response to an unknown message id");
    assert!(matches!(
        h.await.unwrap(),
        Err(BcastError::UnknownMessageId(_))
    ));
}

/// Sends a hand-made /msg to node 0 from operator 1 and reports the ack.
async fn send_msg(c: &Cluster, msg: &BCastMessage) -> (bool, Result<(), BcastError>) {
    let node = c.nodes[0].clone();
    let (mut client, mut server) = pipe();
    let h = tokio::spawn(async move { node.bcast.serve_msg(1, &mut server).await });
    let acked = send_with_ack(&mut client, &msg.encode_to_vec())
        .await
        .unwrap();
    (acked, h.await.unwrap())
}

/// A delivery recorded in one attempt and replayed into the next attempt of
/// the same definition (same session hash, IDs and keys, so every signature
/// still verifies) is refused: deliveries are bound to what this endpoint
/// co-signed.
#[tokio::test]
async fn bcast_replay_from_an_earlier_attempt_is_refused() {
    let ks = keys(3);
    let signed_msg = |c: &Cluster, value: u8| {
        let any = pack_any(&MsgNodeSig {
            signature: vec![value; 65],
            peer_index: 1,
        });
        let sigs: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                if i == 1 {
                    let hash = c.nodes[0].bcast.hash(protocols::MSG_NODE_SIG, &any);
                    sign65(&ks[1], &hash).unwrap().to_vec()
                } else {
                    c.nodes[i]
                        .bcast
                        .co_sign(1, protocols::MSG_NODE_SIG, &any)
                        .unwrap()
                        .to_vec()
                }
            })
            .collect();
        BCastMessage {
            id: protocols::MSG_NODE_SIG.into(),
            message: Some(any),
            signatures: sigs,
        }
    };
    // Attempt 1: a normal broadcast from operator 1, delivered to node 0.
    let mut first = cluster(&[Compat::V1_11; 3]);
    let old = signed_msg(&first, 5);
    let (acked, res) = send_msg(&first, &old).await;
    assert!(acked);
    res.unwrap();
    assert!(first.node_sig[0].try_recv().is_ok());

    // Attempt 2: fresh endpoints. The replay is refused before and after
    // operator 1's genuine attempt-2 message was co-signed.
    let mut second = cluster(&[Compat::V1_11; 3]);
    let (acked, res) = send_msg(&second, &old).await;
    assert!(!acked);
    assert!(
        matches!(res, Err(BcastError::NotCoSigned { peer: 1, .. })),
        "{res:?}"
    );
    let fresh = signed_msg(&second, 6);
    let (acked, res) = send_msg(&second, &old).await;
    assert!(!acked);
    assert!(
        matches!(res, Err(BcastError::NotCoSigned { peer: 1, .. })),
        "{res:?}"
    );
    assert!(second.node_sig[0].try_recv().is_err());
    let (acked, res) = send_msg(&second, &fresh).await;
    assert!(acked);
    res.unwrap();
    assert_eq!(
        second.node_sig[0].try_recv().unwrap().message,
        fresh.message.unwrap()
    );
}

#[tokio::test]
async fn bcast_msg_verifies_every_signature_before_delivery() {
    let mut c = cluster(&[Compat::V1_11; 3]);
    let ks = keys(3);
    let any = pack_any(&MsgNodeSig {
        signature: vec![5; 65],
        peer_index: 1,
    });
    let hash = c.nodes[0].bcast.hash(protocols::MSG_NODE_SIG, &any);
    let good: Vec<Vec<u8>> = ks
        .iter()
        .map(|k| sign65(k, &hash).unwrap().to_vec())
        .collect();
    let msg = |sigs: Vec<Vec<u8>>| BCastMessage {
        id: protocols::MSG_NODE_SIG.into(),
        message: Some(any.clone()),
        signatures: sigs,
    };

    // Too few signatures.
    let (acked, res) = send_msg(&c, &msg(good[..2].to_vec())).await;
    assert!(!acked);
    assert!(matches!(
        res,
        Err(BcastError::SignatureCount { got: 2, want: 3 })
    ));
    // Signatures in the wrong order.
    let (acked, res) = send_msg(
        &c,
        &msg(vec![good[1].clone(), good[0].clone(), good[2].clone()]),
    )
    .await;
    assert!(!acked);
    assert!(matches!(res, Err(BcastError::BadSignature { peer: 0, .. })));
    // A truncated signature.
    let (acked, res) = send_msg(
        &c,
        &msg(vec![
            good[0].clone(),
            good[1][..64].to_vec(),
            good[2].clone(),
        ]),
    )
    .await;
    assert!(!acked);
    assert!(matches!(res, Err(BcastError::BadSignature { peer: 1, .. })));
    // Signed over other content.
    let mut tampered = msg(good.clone());
    tampered.message = Some(pack_any(&MsgNodeSig {
        signature: vec![6; 65],
        peer_index: 1,
    }));
    let (acked, _) = send_msg(&c, &tampered).await;
    assert!(!acked);
    assert!(
        c.node_sig[0].try_recv().is_err(),
        "nothing delivered so far"
    );

    // Fully and validly signed, but never co-signed by this node (a replay
    // from an earlier attempt with the same definition): refused.
    let (acked, res) = send_msg(&c, &msg(good.clone())).await;
    assert!(!acked);
    assert!(
        matches!(&res, Err(BcastError::NotCoSigned { peer: 1, msg_id }) if msg_id == protocols::MSG_NODE_SIG),
        "{res:?}"
    );
    assert!(c.node_sig[0].try_recv().is_err());
    // Operator 1 asks node 0 to co-sign first, as every sender does.
    c.nodes[0]
        .bcast
        .co_sign(1, protocols::MSG_NODE_SIG, &any)
        .unwrap();

    // Valid, with recovery bytes in Go's 27/28 form: accepted and acknowledged.
    let mut sigs = good.clone();
    for s in &mut sigs {
        s[64] += 27;
    }
    let (acked, res) = send_msg(&c, &msg(sigs)).await;
    assert!(acked);
    res.unwrap();
    let d = c.node_sig[0].try_recv().unwrap();
    assert_eq!((d.sender, d.message), (1, any.clone()));
    // A repeat is acknowledged but not delivered twice.
    let (acked, _) = send_msg(&c, &msg(good)).await;
    assert!(acked);
    assert!(c.node_sig[0].try_recv().is_err());
}

#[tokio::test]
async fn sync_happy_path_steps_and_shutdown() {
    let ks = keys(2);
    let pks = pubkeys(&ks);
    let server = Arc::new(SyncServer::new(Compat::V1_11, DEF_HASH, 0, pks.clone()).unwrap());
    let local = Arc::new(SyncLocal::new(Compat::V1_11, &ks[1], &DEF_HASH, "bob").unwrap());
    let client = Arc::new(SyncClient::new(0, local.clone()));
    let (mut c_end, mut s_end) = pipe();
    let srv = server.clone();
    let serve = tokio::spawn(async move { srv.serve(1, &mut s_end).await });
    let cl = client.clone();
    let run = tokio::spawn(async move { cl.run_session(&mut c_end).await });

    server.await_all_connected().await.unwrap();
    for step in 1..=8 {
        local.set_step(step);
        server.await_all_at_step(step).await.unwrap();
    }
    assert!(client.is_connected());
    local.begin_shutdown();
    server.await_all_shutdown().await.unwrap();
    assert_eq!(
        run.await.unwrap().unwrap(),
        charon_dkg_sidecar::p2p::sync::SessionEnd::Shutdown
    );
    serve.await.unwrap().unwrap();
    assert!(server.error().is_none());
}

/// Runs one client session against a server and returns both outcomes.
async fn sync_pair(
    server_hash: [u8; 32],
    client_compat: Compat,
    client_hash: [u8; 32],
) -> (Result<(), SyncError>, SyncError, Arc<SyncServer>) {
    let ks = keys(2);
    let server = Arc::new(SyncServer::new(Compat::V1_11, server_hash, 0, pubkeys(&ks)).unwrap());
    let local = Arc::new(SyncLocal::new(client_compat, &ks[1], &client_hash, "").unwrap());
    let client = SyncClient::new(0, local);
    let (mut c_end, mut s_end) = pipe();
    let srv = server.clone();
    let serve = tokio::spawn(async move { srv.serve(1, &mut s_end).await });
    let err = client.run_session(&mut c_end).await.unwrap_err();
    drop(c_end);
    (serve.await.unwrap(), err, server)
}

#[tokio::test]
async fn sync_refuses_wrong_definition_hash() {
    let (_, err, server) = sync_pair(DEF_HASH, Compat::V1_11, [8; 32]).await;
    assert_eq!(
        err,
        SyncError::PeerError {
            peer: 0,
            error: "invalid definition hash signature".into()
        }
    );
    assert!(matches!(
        server.error(),
        Some(SyncError::InvalidMessage { peer: 1, .. })
    ));
    assert!(
        server.await_all_connected().await.is_err(),
        "barriers fail after a fatal error"
    );
}

#[tokio::test]
async fn sync_refuses_other_minor_version() {
    let (_, err, server) = sync_pair(DEF_HASH, Compat::V1_10, DEF_HASH).await;
    assert_eq!(
        err,
        SyncError::PeerError {
            peer: 0,
            error: "mismatching charon version; expect=v1.11, got=v1.10".into()
        }
    );
    assert!(server.error().is_some());
}

/// A peer that answers our `shutdown = true` with an error still got it:
/// charon's client counts any answer as delivered, so must ours.
#[tokio::test]
async fn sync_shutdown_answer_counts_even_with_an_error() {
    let ks = keys(2);
    let local = Arc::new(SyncLocal::new(Compat::V1_11, &ks[1], &DEF_HASH, "").unwrap());
    local.set_step(8);
    local.begin_shutdown();
    let client = SyncClient::new(0, local);
    let (mut c_end, mut s_end) = pipe();
    let peer = tokio::spawn(async move {
        let body = frame::read_sized(&mut s_end).await.unwrap();
        let msg = MsgSync::decode(body.as_slice()).unwrap();
        assert!(msg.shutdown && msg.step == 8);
        let resp = MsgSyncResponse {
            sync_timestamp: msg.timestamp,
            error: "peer is shutting down".into(),
        };
        frame::write_sized(&mut s_end, &resp.encode_to_vec())
            .await
            .unwrap();
    });
    assert_eq!(
        client.run_session(&mut c_end).await.unwrap(),
        charon_dkg_sidecar::p2p::sync::SessionEnd::Shutdown
    );
    peer.await.unwrap();
}

/// Before shutdown, an error answer is fatal and is reported as the peer's.
#[tokio::test]
async fn sync_error_answer_before_shutdown_is_the_peers_error() {
    let ks = keys(2);
    let local = Arc::new(SyncLocal::new(Compat::V1_11, &ks[1], &DEF_HASH, "").unwrap());
    let client = SyncClient::new(3, local);
    let (mut c_end, mut s_end) = pipe();
    let peer = tokio::spawn(async move {
        let body = frame::read_sized(&mut s_end).await.unwrap();
        let msg = MsgSync::decode(body.as_slice()).unwrap();
        let resp = MsgSyncResponse {
            sync_timestamp: msg.timestamp,
            error: "boom".into(),
        };
        frame::write_sized(&mut s_end, &resp.encode_to_vec())
            .await
            .unwrap();
    });
    assert_eq!(
        client.run_session(&mut c_end).await.unwrap_err(),
        SyncError::PeerError {
            peer: 3,
            error: "boom".into()
        }
    );
    peer.await.unwrap();
}

/// A peer's error text (up to 32 MiB in a sync frame) reaches our errors and
/// logs bounded and without control characters.
#[tokio::test]
async fn sync_peer_text_is_bounded_and_stripped() {
    use charon_dkg_sidecar::p2p::sync::MAX_PEER_TEXT;
    let ks = keys(2);
    let local = Arc::new(SyncLocal::new(Compat::V1_11, &ks[1], &DEF_HASH, "").unwrap());
    let client = SyncClient::new(0, local);
    let (mut c_end, mut s_end) = pipe();
    let peer = tokio::spawn(async move {
        let body = frame::read_sized(&mut s_end).await.unwrap();
        let msg = MsgSync::decode(body.as_slice()).unwrap();
        let resp = MsgSyncResponse {
            sync_timestamp: msg.timestamp,
            // Within the 64 KiB sync frame bound, far beyond the text bound.
            error: format!("forged\n\x1b[31mline{}", "x".repeat(60_000)),
        };
        frame::write_sized(&mut s_end, &resp.encode_to_vec())
            .await
            .unwrap();
    });
    let SyncError::PeerError { error, .. } = client.run_session(&mut c_end).await.unwrap_err()
    else {
        panic!("not a peer error")
    };
    peer.await.unwrap();
    assert!(
        error.chars().count() <= MAX_PEER_TEXT + 1,
        "{}",
        error.len()
    );
    assert!(error.starts_with("forged  [31mline"), "{error:.40}");
    assert!(!error.chars().any(char::is_control));

    // The same for what a peer claims as its version, in the server's error.
    let server = Arc::new(SyncServer::new(Compat::V1_11, DEF_HASH, 0, pubkeys(&ks)).unwrap());
    let msg = MsgSync {
        version: format!("v1.11\n{}", "9".repeat(60_000)),
        ..Default::default()
    };
    let resp = raw_sync(&server, vec![msg]).await;
    assert!(
        resp[0].error.len() < 2 * MAX_PEER_TEXT,
        "{}",
        resp[0].error.len()
    );
    let logged = server.error().unwrap().to_string();
    assert!(
        logged.len() < 2 * MAX_PEER_TEXT && !logged.contains('\n'),
        "{logged:.80}"
    );
}

#[test]
fn sync_version_and_step_rules() {
    use charon_dkg_sidecar::p2p::sync::{check_version, next_peer_step, parse_version};
    for ok in ["v1.11", "v1.11.0", "v1.11.3", "v1.11-dev", "v1.11.0-rc3"] {
        check_version(Compat::V1_11, ok).unwrap();
    }
    for bad in [
        "v1.10",
        "v2.11",
        "1.11",
        "v1",
        "v1.11.",
        "v1.11-",
        "v1.11.0.1",
        "vx.11",
        "",
        "v1.1",
    ] {
        assert!(check_version(Compat::V1_11, bad).is_err(), "{bad}");
    }
    assert_eq!(parse_version("v1.10.3"), Some((1, 10)));
    assert!(next_peer_step(None, 0).is_ok() && next_peer_step(None, 1).is_ok());
    assert!(next_peer_step(None, 2).is_err() && next_peer_step(None, -1).is_err());
    assert!(next_peer_step(Some(3), 3).is_ok() && next_peer_step(Some(3), 5).is_ok());
    assert!(next_peer_step(Some(3), 2).is_err() && next_peer_step(Some(3), 6).is_err());
    assert!(next_peer_step(Some(i64::MAX), i64::MAX).is_ok());
}

/// Raw MsgSync exchange with a server, returning its response.
async fn raw_sync(server: &Arc<SyncServer>, msgs: Vec<MsgSync>) -> Vec<MsgSyncResponse> {
    let (mut c_end, mut s_end) = pipe();
    let srv = server.clone();
    let serve = tokio::spawn(async move { srv.serve(1, &mut s_end).await });
    let mut out = Vec::new();
    for m in msgs {
        if frame::write_sized(&mut c_end, &m.encode_to_vec())
            .await
            .is_err()
        {
            break;
        }
        match frame::read_sized(&mut c_end).await {
            Ok(body) => out.push(MsgSyncResponse::decode(body.as_slice()).unwrap()),
            Err(_) => break,
        }
    }
    let _ = c_end.close().await;
    let _ = serve.await.unwrap();
    out
}

#[tokio::test]
async fn sync_detects_restarted_peer_and_echoes_timestamps() {
    let ks = keys(2);
    let server = Arc::new(SyncServer::new(Compat::V1_11, DEF_HASH, 0, pubkeys(&ks)).unwrap());
    let local = SyncLocal::new(Compat::V1_11, &ks[1], &DEF_HASH, "").unwrap();
    let sig = charon_dkg_sidecar::p2p::sync::definition_hash_signature(&ks[1], &DEF_HASH).unwrap();
    drop(local);
    let m = |step, secs| MsgSync {
        timestamp: Some(prost_types::Timestamp {
            seconds: secs,
            nanos: 5,
        }),
        hash_signature: sig.clone(),
        shutdown: false,
        version: "v1.11".into(),
        step,
        nickname: String::new(),
    };
    // Steps 1, 2 then back to 0: the peer restarted.
    let resps = raw_sync(&server, vec![m(1, 10), m(2, 11), m(0, 12), m(0, 13)]).await;
    assert_eq!(resps.len(), 3, "the stream ends after the fatal response");
    assert_eq!(resps[0].sync_timestamp.unwrap().seconds, 10);
    assert_eq!(resps[1].error, "");
    assert_eq!(
        resps[2].error,
        format!("{RESTART_ERROR}: peer reported step is behind the last known step (0 < 2)")
    );
    assert_eq!(resps[2].sync_timestamp.unwrap().seconds, 12);
    assert!(server.error().is_some());
    let heard = server.last_heard();
    assert!(heard[0].is_none() && heard[1].is_some(), "{heard:?}");
    // A step far ahead of the barrier is an error at the barrier.
    let server2 = Arc::new(SyncServer::new(Compat::V1_11, DEF_HASH, 0, pubkeys(&ks)).unwrap());
    raw_sync(&server2, vec![m(1, 1), m(3, 2)]).await;
    assert!(matches!(
        server2.await_all_at_step(1).await,
        Err(SyncError::TooFarAhead {
            peer: 1,
            theirs: 3,
            ours: 1
        })
    ));
    server2.await_all_at_step(2).await.unwrap();
}

#[tokio::test]
async fn oversize_and_malformed_frames_are_refused_without_allocating() {
    // Sync: a 1 TiB announcement is refused before reading the body.
    let (mut a, mut b) = pipe();
    a.write_all(&(1i64 << 40).to_le_bytes()).await.unwrap();
    assert!(matches!(
        frame::read_sized(&mut b).await,
        Err(FrameError::Size { .. })
    ));
    // Negative and zero sizes.
    for size in [-1i64, 0, i64::MIN] {
        let (mut a, mut b) = pipe();
        a.write_all(&size.to_le_bytes()).await.unwrap();
        assert!(
            matches!(
                frame::read_sized(&mut b).await,
                Err(FrameError::Size { .. })
            ),
            "{size}"
        );
    }
    // Varint: over the limit, and a huge announcement followed by EOF.
    let (mut a, mut b) = pipe();
    a.write_all(&frame::varint_prefix(MAX_DELIMITED_SIZE + 1))
        .await
        .unwrap();
    assert!(matches!(
        frame::read_delimited(&mut b, MAX_DELIMITED_SIZE).await,
        Err(FrameError::Size { .. })
    ));
    let (mut a, mut b) = pipe();
    a.write_all(&frame::varint_prefix(100 << 20)).await.unwrap();
    a.write_all(&[1, 2, 3]).await.unwrap();
    a.close().await.unwrap();
    assert!(matches!(
        frame::read_delimited(&mut b, MAX_DELIMITED_SIZE).await,
        Err(FrameError::Truncated { got: 3, .. })
    ));
    // Peerinfo's 1 MiB limit.
    let (mut a, mut b) = pipe();
    a.write_all(&frame::varint_prefix(frame::MAX_PEERINFO_SIZE + 1))
        .await
        .unwrap();
    assert!(matches!(
        frame::read_delimited(&mut b, frame::MAX_PEERINFO_SIZE).await,
        Err(FrameError::Size { .. })
    ));
    // Writers refuse what readers would refuse.
    assert!(frame::sync_frame(&[]).is_err());
    assert!(frame::sync_frame(&vec![0; frame::MAX_SYNC_SIZE + 1]).is_err());
    // Body split across writes is reassembled.
    let (mut a, mut b) = pipe();
    let body = vec![0xab; 200_000];
    let f = frame::delimited_frame(&body);
    let w = tokio::spawn(async move {
        for chunk in f.chunks(777) {
            a.write_all(chunk).await.unwrap();
        }
        a.close().await.unwrap();
    });
    assert_eq!(
        frame::read_delimited(&mut b, MAX_DELIMITED_SIZE)
            .await
            .unwrap(),
        body
    );
    w.await.unwrap();
}

fn pk(i: u8) -> [u8; 48] {
    [i; 48]
}

#[tokio::test]
async fn parsigex_round_trip_and_refusals() {
    let sigs: BTreeMap<_, _> = [(pk(0xab), [11u8; 96]), (pk(0xcd), [22u8; 96])].into();
    let msg = parsigex::build_msg(parsigex::deposit_sig_type(1), 3, &sigs);
    let entry = msg.data_set.as_ref().unwrap().set.values().next().unwrap();
    assert_eq!(entry.data.len(), 130);
    assert_eq!(
        msg.duty,
        Some(Duty {
            slot: 201,
            r#type: 3
        })
    );

    let (mut a, mut b) = pipe();
    let m2 = msg.clone();
    tokio::spawn(async move { parsigex::send_msg(&mut a, &m2).await.unwrap() });
    let got = parsigex::recv_msg(&mut b, 3, &LIMITS).await.unwrap();
    assert_eq!(
        (got.sig_type, got.share_idx, got.sigs.clone()),
        (201, 3, sigs.clone())
    );

    // Wrong sender share index on any entry rejects the whole message.
    let mut bad = msg.clone();
    bad.data_set
        .as_mut()
        .unwrap()
        .set
        .values_mut()
        .last()
        .unwrap()
        .share_idx = 2;
    assert!(matches!(
        parsigex::validate_msg(&bad, 3),
        Err(ParSigExError::ShareIdx {
            sender: 3,
            claimed: 2
        })
    ));
    // Duty gate.
    for (slot, ty) in [(100, 3), (103, 3), (199, 3), (101, 2), (0, 0)] {
        let mut bad = msg.clone();
        bad.duty = Some(Duty { slot, r#type: ty });
        assert!(
            matches!(
                parsigex::validate_msg(&bad, 3),
                Err(ParSigExError::InvalidDuty { .. })
            ),
            "{slot}"
        );
    }
    // Absent duty or set, empty set.
    assert!(matches!(
        parsigex::validate_msg(
            &ParSigExMsg {
                duty: None,
                ..msg.clone()
            },
            3
        ),
        Err(ParSigExError::Proto(_))
    ));
    assert!(matches!(
        parsigex::validate_msg(
            &ParSigExMsg {
                data_set: None,
                ..msg.clone()
            },
            3
        ),
        Err(ParSigExError::Proto(_))
    ));
    let mut empty = msg.clone();
    empty.data_set.as_mut().unwrap().set.clear();
    assert!(matches!(
        parsigex::validate_msg(&empty, 3),
        Err(ParSigExError::Empty(3))
    ));
    // Pubkey spelling and data format.
    let mut upper = msg.clone();
    let set = &mut upper.data_set.as_mut().unwrap().set;
    let (k, v) = set.pop_first().unwrap();
    set.insert(k.to_uppercase().replacen("0X", "0x", 1), v);
    assert!(matches!(
        parsigex::validate_msg(&upper, 3),
        Err(ParSigExError::PubKey { .. })
    ));
    let mut raw = msg.clone();
    for e in raw.data_set.as_mut().unwrap().set.values_mut() {
        e.data = e.signature.clone();
    }
    assert!(matches!(
        parsigex::validate_msg(&raw, 3),
        Err(ParSigExError::Data { .. })
    ));
}

#[test]
fn frost_messages_must_cover_every_validator_once() {
    let casts = sample_casts(2, 3, 2);
    let ordered = frostp2p::validate_round1_casts(&casts, 2, 3, 2).unwrap();
    let idx: Vec<u32> = ordered.iter().map(|c| c.key.unwrap().val_idx).collect();
    assert_eq!(idx, vec![0, 1, 2], "random order is accepted and sorted");

    assert!(matches!(
        frostp2p::validate_round1_casts(&casts, 1, 3, 2),
        Err(FrostWireError::BadKey { .. })
    ));
    assert!(matches!(
        frostp2p::validate_round1_casts(&casts, 2, 4, 2),
        Err(FrostWireError::Coverage {
            got: 3,
            want: 4,
            ..
        })
    ));
    assert!(matches!(
        frostp2p::validate_round1_casts(&casts, 2, 2, 2),
        Err(FrostWireError::BadKey { .. })
    ));
    assert!(matches!(
        frostp2p::validate_round1_casts(&casts, 2, 3, 3),
        Err(FrostWireError::Commitments { .. })
    ));
    let mut dup = casts.clone();
    dup.casts[0].key.as_mut().unwrap().val_idx = 1;
    assert!(matches!(
        frostp2p::validate_round1_casts(&dup, 2, 3, 2),
        Err(FrostWireError::Duplicate { val_idx: 1, .. })
    ));
    let mut targeted = casts.clone();
    targeted.casts[2].key.as_mut().unwrap().target_id = 1;
    assert!(matches!(
        frostp2p::validate_round1_casts(&targeted, 2, 3, 2),
        Err(FrostWireError::BadKey { .. })
    ));
    let mut keyless = casts.clone();
    keyless.casts[1].key = None;
    assert!(matches!(
        frostp2p::validate_round1_casts(&keyless, 2, 3, 2),
        Err(FrostWireError::MissingKey { .. })
    ));

    let share = |v: u32, target: u32, id: u32| FrostRound1ShamirShare {
        key: Some(FrostMsgKey {
            val_idx: v,
            source_id: 1,
            target_id: target,
        }),
        id,
        value: vec![4; 32],
    };
    let p2p = FrostRound1P2P {
        shares: vec![share(1, 3, 3), share(0, 3, 3)],
    };
    assert_eq!(
        frostp2p::validate_round1_p2p(&p2p, 1, 3, 2).unwrap().len(),
        2
    );
    assert!(matches!(
        frostp2p::validate_round1_p2p(&p2p, 1, 2, 2),
        Err(FrostWireError::BadKey { .. })
    ));
    let wrong_id = FrostRound1P2P {
        shares: vec![share(0, 3, 2), share(1, 3, 3)],
    };
    assert!(matches!(
        frostp2p::validate_round1_p2p(&wrong_id, 1, 3, 2),
        Err(FrostWireError::ShareId { .. })
    ));
    assert!(
        format!("{:?}", p2p).contains("redacted"),
        "secret shares are not printed"
    );

    let r2 = FrostRound2Casts {
        casts: vec![FrostRound2Cast {
            key: Some(FrostMsgKey {
                val_idx: 0,
                source_id: 4,
                target_id: 0,
            }),
            verification_key: vec![1; 48],
            vk_share: vec![2; 48],
        }],
    };
    assert!(frostp2p::validate_round2_casts(&r2, 4, 1).is_ok());
    assert!(frostp2p::validate_round2_casts(&r2, 4, 2).is_err());
}

#[tokio::test]
async fn frost_round1_p2p_one_shot_send_and_receive() {
    let msg = FrostRound1P2P {
        shares: vec![FrostRound1ShamirShare {
            key: Some(FrostMsgKey {
                val_idx: 0,
                source_id: 1,
                target_id: 2,
            }),
            id: 2,
            value: vec![9; 32],
        }],
    };
    let (mut a, mut b) = pipe();
    let m = msg.clone();
    tokio::spawn(async move { frostp2p::send_round1_p2p(&mut a, &m).await.unwrap() });
    assert_eq!(
        frostp2p::recv_round1_p2p(&mut b, &LIMITS).await.unwrap(),
        msg
    );
    // A share without its key is refused (charon's presence rule).
    let (mut a, mut b) = pipe();
    let bad = FrostRound1P2P {
        shares: vec![FrostRound1ShamirShare {
            key: None,
            id: 2,
            value: vec![9; 32],
        }],
    };
    tokio::spawn(async move { frostp2p::send_round1_p2p(&mut a, &bad).await.unwrap() });
    assert!(matches!(
        frostp2p::recv_round1_p2p(&mut b, &LIMITS).await,
        Err(FrostWireError::Proto(_))
    ));
}

/// Millions of empty shares are a few MiB on the wire and gigabytes once
/// decoded. Above the ceremony's size bound the frame is refused unread;
/// within it, the share count is checked on the raw bytes before decoding.
#[tokio::test]
async fn oversized_repeated_fields_are_refused_before_they_expand() {
    use charon_dkg_sidecar::p2p::proto::ProtoError;
    // Repeated field 1 with an empty message: `0a 00`, two bytes per share.
    let empty_shares = |n: usize| {
        let mut v = Vec::with_capacity(2 * n);
        for _ in 0..n {
            v.extend_from_slice(&[0x0a, 0x00]);
        }
        v
    };
    // 4 million shares (8 MiB on the wire): refused on the announced size.
    let (mut a, mut b) = pipe();
    let body = empty_shares(4_000_000);
    tokio::spawn(async move {
        let _ = a.write_all(&frame::varint_prefix(body.len())).await;
        let _ = a.write_all(&body).await;
    });
    let err = frostp2p::recv_round1_p2p(&mut b, &LIMITS)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FrostWireError::Frame(FrameError::Size {
                size: 8_000_000,
                ..
            })
        ),
        "{err}"
    );
    // 20,000 shares for 16 validators, within the size bound: refused by count.
    let (mut a, mut b) = pipe();
    let body = empty_shares(20_000);
    assert!(body.len() < LIMITS.frost_round1_p2p());
    tokio::spawn(async move {
        let _ = frame::write_delimited(&mut a, &body).await;
    });
    let err = frostp2p::recv_round1_p2p(&mut b, &LIMITS)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FrostWireError::Proto(ProtoError::Decode { message: "dkg.FrostRound1P2P", reason })
            if reason == "more than 16 entries"),
        "{err}"
    );

    // The same inside a bcast round-1 cast: too many commitments in one cast.
    let ks = keys(3);
    let mut b0 = Bcast::new(Compat::V1_11, DEF_HASH, 0, ks[0].clone(), pubkeys(&ks)).unwrap();
    let _rx = b0.register::<FrostRound1Casts>(protocols::MSG_FROST_ROUND1_CAST);
    b0.set_limits(LIMITS);
    let mut casts = sample_casts(2, 16, 3);
    casts.casts[5].commitments = vec![Vec::new(); 30_000];
    let err = b0
        .co_sign(1, protocols::MSG_FROST_ROUND1_CAST, &pack_any(&casts))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BcastError::Check {
                source: ProtoError::Decode {
                    message: "dkg.FrostRound1Cast",
                    ..
                },
                ..
            }
        ),
        "{err}"
    );
    b0.co_sign(
        1,
        protocols::MSG_FROST_ROUND1_CAST,
        &pack_any(&sample_casts(2, 16, 3)),
    )
    .unwrap();

    // And a parsigex set with more entries than validators.
    let sigs: BTreeMap<[u8; 48], [u8; 96]> = (0..17u8).map(|i| ([i; 48], [i; 96])).collect();
    let msg = parsigex::build_msg(parsigex::SIG_LOCK, 3, &sigs);
    let (mut a, mut b) = pipe();
    tokio::spawn(async move { parsigex::send_msg(&mut a, &msg).await.unwrap() });
    let err = parsigex::recv_msg(&mut b, 3, &LIMITS).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ParSigExError::Proto(ProtoError::Decode {
                message: "core.ParSignedDataSet",
                ..
            })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn node_signatures_arrive_early_and_verify_later() {
    let ks = keys(3);
    let lock_hash = [42u8; 32];
    let sigs = NodeSigs::new(0, pubkeys(&ks));
    // Peers' signatures arrive before we know the lock hash.
    for (i, k) in ks.iter().enumerate().skip(1) {
        sigs.offer(i, &nodesig::build(k, &lock_hash, i).unwrap())
            .unwrap();
    }
    assert_eq!(
        sigs.offer(1, &nodesig::build(&ks[2], &lock_hash, 2).unwrap()),
        Err(NodeSigError::SenderMismatch {
            sender: 1,
            index: 2
        })
    );
    assert!(matches!(
        sigs.offer(1, &nodesig::build(&ks[0], &lock_hash, 0).unwrap()),
        Err(NodeSigError::InvalidPeerIndex { .. })
    ));
    assert!(matches!(
        sigs.offer(
            1,
            &MsgNodeSig {
                signature: vec![],
                peer_index: 7
            }
        ),
        Err(NodeSigError::InvalidPeerIndex { .. })
    ));
    let own = nodesig::build(&ks[0], &lock_hash, 0).unwrap();
    let all = sigs.wait_all(&lock_hash, &own.signature).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[2],
        nodesig::build(&ks[2], &lock_hash, 2).unwrap().signature
    );
    // Verification against another lock hash fails and names the operator.
    assert!(matches!(
        sigs.wait_all(&[1; 32], &own.signature).await,
        Err(NodeSigError::BadSignature { sender: 0, .. })
    ));
}

#[tokio::test]
async fn peerinfo_server_answers_with_dkg_fields() {
    use charon_dkg_sidecar::p2p::peerinfo;
    use charon_dkg_sidecar::p2p::proto::peerinfopb::PeerInfo;
    let info = peerinfo::dkg_peer_info(
        "v1.11.0",
        "abc1234",
        &DEF_HASH,
        std::time::SystemTime::now(),
    );
    let (mut a, mut b) = pipe();
    let i2 = info.clone();
    let srv = tokio::spawn(async move { peerinfo::serve(&mut b, &i2).await });
    let resp: PeerInfo = charon_dkg_sidecar::p2p::stream::send_receive(
        &mut a,
        &PeerInfo::default().encode_to_vec(),
        frame::MAX_PEERINFO_SIZE,
    )
    .await
    .unwrap();
    srv.await.unwrap().unwrap();
    assert_eq!(resp.lock_hash, DEF_HASH.to_vec());
    assert_eq!(resp.dv_client, "charon");
    assert!(resp.nickname.is_empty() && !resp.builder_api_enabled);
    assert!(resp.sent_at.is_some() && resp.started_at.is_some());
}

/// Sync streams to a server; the first opens fail and the next stream is
/// dropped at once, as after a relay circuit reset.
struct FlakySyncNet {
    opens: std::sync::atomic::AtomicUsize,
    server: Arc<SyncServer>,
}

impl OpenStream for FlakySyncNet {
    type Stream = Pipe;

    fn open(
        &self,
        _peer: usize,
        protocol: &'static str,
    ) -> impl std::future::Future<Output = std::io::Result<Pipe>> + Send {
        let n = self.opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let server = self.server.clone();
        async move {
            assert_eq!(protocol, protocols::SYNC);
            if n < 2 {
                return Err(std::io::Error::other("no route to peer"));
            }
            let (client, mut srv_end) = pipe();
            if n == 2 {
                drop(srv_end);
            } else {
                tokio::spawn(async move { server.serve(1, &mut srv_end).await });
            }
            Ok(client)
        }
    }
}

#[tokio::test]
async fn sync_client_reconnects_until_shutdown() {
    let ks = keys(2);
    let server = Arc::new(SyncServer::new(Compat::V1_11, DEF_HASH, 0, pubkeys(&ks)).unwrap());
    let local = Arc::new(SyncLocal::new(Compat::V1_11, &ks[1], &DEF_HASH, "").unwrap());
    let client = Arc::new(SyncClient::new(0, local.clone()));
    let net = Arc::new(FlakySyncNet {
        opens: Default::default(),
        server: server.clone(),
    });
    let (c, n) = (client.clone(), net.clone());
    let run = tokio::spawn(async move { c.run(n.as_ref()).await });
    server.await_all_connected().await.unwrap();
    local.set_step(1);
    server.await_all_at_step(1).await.unwrap();
    local.begin_shutdown();
    server.await_all_shutdown().await.unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(net.opens.load(std::sync::atomic::Ordering::SeqCst), 4);
}
