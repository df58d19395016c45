//! Golden wire vectors (`shared/vectors/wire/charon-dkg-wire.json`): every
//! case must encode and decode byte-exactly (map cases compared after
//! parsing), with the same Any bytes, bcast v1/v2 hashes, co-signatures and
//! stream frames.

use charon_dkg_sidecar::p2p::bcast::hash_any;
use charon_dkg_sidecar::p2p::frame::{
    FrameError, MAX_DELIMITED_SIZE, delimited_frame, read_delimited, read_sized, sync_frame,
    varint_prefix,
};
use charon_dkg_sidecar::p2p::k1sig::{recover65, sign65, verify_der};
use charon_dkg_sidecar::p2p::proto::corepb::*;
use charon_dkg_sidecar::p2p::proto::dkgpb::*;
use charon_dkg_sidecar::p2p::proto::peerinfopb::PeerInfo;
use charon_dkg_sidecar::p2p::proto::{Any, Timestamp, any_is, pack_any};
use charon_dkg_sidecar::p2p::protocols::{self, Compat};
use futures::executor::block_on;
use futures::io::Cursor;
use k256::ecdsa::SigningKey;
use prost::{Message, Name};
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/vectors/wire/charon-dkg-wire.json"
);

fn load() -> Value {
    serde_json::from_str(&std::fs::read_to_string(VECTORS).unwrap()).unwrap()
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap()
}

fn ts(v: &Value) -> Option<Timestamp> {
    if v.is_null() {
        return None;
    }
    Some(Timestamp {
        seconds: i(&v["seconds"]),
        nanos: i(&v["nanos"]) as i32,
    })
}

fn list<T>(v: &Value, f: impl Fn(&Value) -> T) -> Vec<T> {
    v.as_array().unwrap().iter().map(f).collect()
}

fn key(v: &Value) -> Option<FrostMsgKey> {
    if v.is_null() {
        return None;
    }
    Some(FrostMsgKey {
        val_idx: u(&v["val_idx"]) as u32,
        source_id: u(&v["source_id"]) as u32,
        target_id: u(&v["target_id"]) as u32,
    })
}

fn any(v: &Value) -> Option<Any> {
    if v.is_null() {
        return None;
    }
    Some(Any {
        type_url: s(&v["type_url"]),
        value: hx(&v["value"]),
    })
}

fn r1cast(v: &Value) -> FrostRound1Cast {
    FrostRound1Cast {
        key: key(&v["key"]),
        wi: hx(&v["wi"]),
        ci: hx(&v["ci"]),
        commitments: list(&v["commitments"], hx),
    }
}

fn r1share(v: &Value) -> FrostRound1ShamirShare {
    FrostRound1ShamirShare {
        key: key(&v["key"]),
        id: u(&v["id"]) as u32,
        value: hx(&v["value"]),
    }
}

fn r2cast(v: &Value) -> FrostRound2Cast {
    FrostRound2Cast {
        key: key(&v["key"]),
        verification_key: hx(&v["verification_key"]),
        vk_share: hx(&v["vk_share"]),
    }
}

fn duty(v: &Value) -> Option<Duty> {
    if v.is_null() {
        return None;
    }
    Some(Duty {
        slot: u(&v["slot"]),
        r#type: i(&v["type"]) as i32,
    })
}

fn psd(v: &Value) -> ParSignedData {
    ParSignedData {
        data: hx(&v["data"]),
        signature: hx(&v["signature"]),
        share_idx: i(&v["share_idx"]) as i32,
    }
}

fn psds(v: &Value) -> Option<ParSignedDataSet> {
    if v.is_null() {
        return None;
    }
    Some(ParSignedDataSet {
        set: v["set"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, e)| (k.clone(), psd(e)))
            .collect(),
    })
}

fn opt<T>(v: &Value, f: impl Fn(&Value) -> T) -> Option<T> {
    (!v.is_null()).then(|| f(v))
}

/// Encodes and decodes `M` built from the case's fields; returns (encoding of
/// the built message, the Any of it).
fn check<M>(case: &Value, built: M) -> (Vec<u8>, Any)
where
    M: Message + Default + Name + PartialEq + std::fmt::Debug,
{
    let name = s(&case["name"]);
    assert_eq!(
        s(&case["message_type"]),
        M::full_name(),
        "{name}: message type"
    );
    let want = hx(&case["serialized_hex"]);
    let encoded = built.encode_to_vec();
    let decoded = M::decode(want.as_slice()).unwrap_or_else(|e| panic!("{name}: decode: {e}"));
    assert_eq!(decoded, built, "{name}: decoded value differs from fields");
    if case["byte_exact"].as_bool().unwrap() {
        assert_eq!(
            hex::encode(&encoded),
            hex::encode(&want),
            "{name}: encoding"
        );
        assert_eq!(
            want.len() as u64,
            u(&case["serialized_len"]),
            "{name}: length"
        );
    } else {
        // Non-canonical (map order or defaults inside map entries): every
        // listed encoding must decode to the same value, and ours must too.
        for alt in case["other_valid_encodings"].as_array().unwrap() {
            let alt_bytes = hx(&alt["hex"]);
            assert_eq!(
                M::decode(alt_bytes.as_slice()).unwrap(),
                built,
                "{name}: alternative"
            );
        }
        assert_eq!(
            M::decode(encoded.as_slice()).unwrap(),
            built,
            "{name}: own encoding"
        );
    }
    let a = pack_any(&built);
    (encoded, a)
}

fn dispatch(case: &Value) -> (Vec<u8>, Any) {
    let f = &case["fields"];
    match case["message_type"].as_str().unwrap() {
        "dkg.dkgpb.v1.MsgSync" => check(
            case,
            MsgSync {
                timestamp: ts(&f["timestamp"]),
                hash_signature: hx(&f["hash_signature"]),
                shutdown: f["shutdown"].as_bool().unwrap(),
                version: s(&f["version"]),
                step: i(&f["step"]),
                nickname: s(&f["nickname"]),
            },
        ),
        "dkg.dkgpb.v1.MsgSyncResponse" => check(
            case,
            MsgSyncResponse {
                sync_timestamp: ts(&f["sync_timestamp"]),
                error: s(&f["error"]),
            },
        ),
        "dkg.dkgpb.v1.FrostMsgKey" => check(case, key(f).unwrap()),
        "dkg.dkgpb.v1.FrostRound1Casts" => check(
            case,
            FrostRound1Casts {
                casts: list(&f["casts"], r1cast),
            },
        ),
        "dkg.dkgpb.v1.FrostRound1Cast" => check(case, r1cast(f)),
        "dkg.dkgpb.v1.FrostRound1P2P" => check(
            case,
            FrostRound1P2P {
                shares: list(&f["shares"], r1share),
            },
        ),
        "dkg.dkgpb.v1.FrostRound2Casts" => check(
            case,
            FrostRound2Casts {
                casts: list(&f["casts"], r2cast),
            },
        ),
        "dkg.dkgpb.v1.MsgNodeSig" => check(
            case,
            MsgNodeSig {
                signature: hx(&f["signature"]),
                peer_index: u(&f["peer_index"]) as u32,
            },
        ),
        "dkg.dkgpb.v1.BCastSigRequest" => check(
            case,
            BCastSigRequest {
                id: s(&f["id"]),
                message: any(&f["message"]),
            },
        ),
        "dkg.dkgpb.v1.BCastSigResponse" => check(
            case,
            BCastSigResponse {
                id: s(&f["id"]),
                signature: hx(&f["signature"]),
            },
        ),
        "dkg.dkgpb.v1.BCastMessage" => check(
            case,
            BCastMessage {
                id: s(&f["id"]),
                message: any(&f["message"]),
                signatures: list(&f["signatures"], hx),
            },
        ),
        "core.corepb.v1.Duty" => check(case, duty(f).unwrap()),
        "core.corepb.v1.ParSignedData" => check(case, psd(f)),
        "core.corepb.v1.ParSignedDataSet" => check(case, psds(f).unwrap()),
        "core.corepb.v1.ParSigExMsg" => check(
            case,
            ParSigExMsg {
                duty: duty(&f["duty"]),
                data_set: psds(&f["data_set"]),
            },
        ),
        "app.peerinfo.peerinfopb.v1.PeerInfo" => check(
            case,
            PeerInfo {
                charon_version: s(&f["charon_version"]),
                lock_hash: hx(&f["lock_hash"]),
                sent_at: ts(&f["sent_at"]),
                git_hash: s(&f["git_hash"]),
                started_at: ts(&f["started_at"]),
                builder_api_enabled: f["builder_api_enabled"].as_bool().unwrap(),
                nickname: s(&f["nickname"]),
                dv_client: s(&f["dv_client"]),
            },
        ),
        "dkg.dkgpb.v1.NodePubKeyMessage" => check(
            case,
            NodePubKeyMessage {
                session_id: hx(&f["session_id"]),
                public_key: hx(&f["public_key"]),
                shares: opt(&f["shares"], |v| NodePubKeyShares {
                    public_key_shares: list(&v["public_key_shares"], hx),
                }),
            },
        ),
        "dkg.dkgpb.v1.ValidatorPubKeyShareMessage" => check(
            case,
            ValidatorPubKeyShareMessage {
                session_id: hx(&f["session_id"]),
                public_key_share: hx(&f["public_key_share"]),
            },
        ),
        "dkg.dkgpb.v1.PedersenDealBundle" => check(
            case,
            PedersenDealBundle {
                dealer_index: u(&f["dealer_index"]) as u32,
                deals: list(&f["deals"], |d| PedersenDeal {
                    share_index: u(&d["share_index"]) as u32,
                    encrypted_share: hx(&d["encrypted_share"]),
                }),
                public: list(&f["public"], hx),
                session_id: hx(&f["session_id"]),
                signature: hx(&f["signature"]),
            },
        ),
        "dkg.dkgpb.v1.PedersenResponseBundle" => check(
            case,
            PedersenResponseBundle {
                share_index: u(&f["share_index"]) as u32,
                responses: list(&f["responses"], |r| PedersenResponse {
                    dealer_index: u(&r["dealer_index"]) as u32,
                    status: r["status"].as_bool().unwrap(),
                }),
                session_id: hx(&f["session_id"]),
                signature: hx(&f["signature"]),
            },
        ),
        "dkg.dkgpb.v1.PedersenJustificationBundle" => check(
            case,
            PedersenJustificationBundle {
                dealer_index: u(&f["dealer_index"]) as u32,
                justifications: list(&f["justifications"], |j| PedersenJustification {
                    share_index: u(&j["share_index"]) as u32,
                    share: hx(&j["share"]),
                }),
                session_id: hx(&f["session_id"]),
                signature: hx(&f["signature"]),
            },
        ),
        other => panic!("{}: unhandled message type {other}", s(&case["name"])),
    }
}

fn operator_keys(doc: &Value) -> Vec<(SigningKey, Vec<u8>)> {
    list(&doc["_about"]["fixtures"]["operators"], |op| {
        let sk = SigningKey::from_slice(&hx(&op["secp256k1_private_key_hex"])).unwrap();
        let pk = hx(&op["compressed_pubkey_hex"]);
        assert_eq!(
            sk.verifying_key().to_sec1_bytes().to_vec(),
            pk,
            "fixture key pair"
        );
        (sk, pk)
    })
}

#[test]
fn every_case_encodes_and_decodes() {
    let doc = load();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 60);
    for case in cases {
        let name = s(&case["name"]);
        let (encoded, packed) = dispatch(case);
        if let Some(a) = case.get("any") {
            assert_eq!(packed.type_url, s(&a["type_url"]), "{name}: type url");
            assert_eq!(
                hex::encode(&packed.value),
                a["value_hex"].as_str().unwrap(),
                "{name}: any value"
            );
            assert_eq!(
                hex::encode(packed.encode_to_vec()),
                a["serialized_hex"].as_str().unwrap(),
                "{name}: any bytes"
            );
        }
        if let Some(frame) = case.get("varint_frame") {
            let want = hx(&frame["hex"]);
            assert_eq!(
                hex::encode(delimited_frame(&encoded)),
                hex::encode(&want),
                "{name}: varint frame"
            );
            assert_eq!(
                hex::encode(varint_prefix(encoded.len())),
                frame["length_prefix_hex"].as_str().unwrap()
            );
            let read =
                block_on(read_delimited(&mut Cursor::new(want), MAX_DELIMITED_SIZE)).unwrap();
            assert_eq!(read, encoded, "{name}: read varint frame");
        }
        if let Some(frame) = case.get("sync_frame") {
            let want = hx(&frame["hex"]);
            let accepted = frame["accepted_by_go_reader"].as_bool().unwrap();
            let read = block_on(read_sized(&mut Cursor::new(want.clone())));
            if accepted {
                assert_eq!(
                    hex::encode(sync_frame(&encoded).unwrap()),
                    hex::encode(&want),
                    "{name}: sync frame"
                );
                assert_eq!(read.unwrap(), encoded, "{name}: read sync frame");
            } else {
                assert!(
                    matches!(sync_frame(&encoded), Err(FrameError::Size { .. })),
                    "{name}"
                );
                assert!(matches!(read, Err(FrameError::Size { .. })), "{name}");
            }
        }
    }
}

#[test]
fn bcast_hashes_and_co_signatures() {
    let doc = load();
    let keys = operator_keys(&doc);
    let mut checked_sigs = 0;
    for case in doc["cases"].as_array().unwrap() {
        let Some(b) = case.get("bcast") else { continue };
        let name = s(&case["name"]);
        let a = &case["any"];
        let any = Any {
            type_url: s(&a["type_url"]),
            value: hx(&a["value_hex"]),
        };
        let session = hx(&b["session_hash_hex"]);
        let msg_id = s(&b["msg_id"]);
        let v2 = hash_any(Compat::V1_11, &session, &msg_id, &any);
        let v1 = hash_any(Compat::V1_10, &session, &msg_id, &any);
        assert_eq!(
            hex::encode(v2),
            b["hash_v2_hex"].as_str().unwrap(),
            "{name}: v2 hash"
        );
        assert_eq!(
            hex::encode(v1),
            b["hash_v1_hex"].as_str().unwrap(),
            "{name}: v1 hash"
        );
        let preimage = hx(&b["hash_v2_preimage_hex"]);
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&preimage)),
            hex::encode(v2)
        );
        if let Some(sigs) = b.get("signatures_v2") {
            for sig in sigs.as_array().unwrap() {
                let op = u(&sig["operator_index"]) as usize;
                let sig_bytes = hx(&sig["signature_hex"]);
                let signer = recover65(&v2, &sig_bytes).unwrap();
                assert_eq!(
                    signer.to_sec1_bytes().to_vec(),
                    hx(&sig["signer_pubkey_hex"]),
                    "{name}: signer"
                );
                assert_eq!(signer.to_sec1_bytes().to_vec(), keys[op].1);
                // RFC 6979 is deterministic: our signer reproduces the bytes.
                assert_eq!(
                    sign65(&keys[op].0, &v2).unwrap().to_vec(),
                    sig_bytes,
                    "{name}: op {op} signature"
                );
                checked_sigs += 1;
            }
        }
    }
    assert!(checked_sigs >= 16, "only {checked_sigs} signatures checked");
}

#[test]
fn bcast_messages_carry_verifiable_signatures() {
    let doc = load();
    let keys = operator_keys(&doc);
    let session: [u8; 32] = hx(&doc["_about"]["fixtures"]["session_hash / definition_hash"]["hex"])
        .try_into()
        .unwrap();
    let mut seen = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = s(&case["name"]);
        match case["message_type"].as_str().unwrap() {
            "dkg.dkgpb.v1.BCastMessage" => {
                let msg = BCastMessage::decode(hx(&case["serialized_hex"]).as_slice()).unwrap();
                if msg.signatures.is_empty() {
                    continue;
                }
                let any = msg.message.clone().unwrap();
                let hash = hash_any(Compat::V1_11, &session, &msg.id, &any);
                let vks: Vec<_> = keys.iter().map(|k| *k.0.verifying_key()).collect();
                charon_dkg_sidecar::p2p::bcast::verify_signatures(&vks, &hash, &msg.signatures)
                    .unwrap();
                seen += 1;
            }
            "dkg.dkgpb.v1.BCastSigResponse" => {
                let resp =
                    BCastSigResponse::decode(hx(&case["serialized_hex"]).as_slice()).unwrap();
                let Some(ann) = case.get("annotations") else {
                    continue;
                };
                let hash: [u8; 32] = hx(&ann["signed_hash_hex"]).try_into().unwrap();
                let signer = recover65(&hash, &resp.signature).unwrap();
                assert_eq!(
                    signer.to_sec1_bytes().to_vec(),
                    hx(&ann["signer_pubkey_hex"]),
                    "{name}"
                );
                seen += 1;
            }
            _ => {}
        }
    }
    assert!(seen >= 5);
}

#[test]
fn node_signatures_recover_to_operators() {
    let doc = load();
    let keys = operator_keys(&doc);
    let lock_hash: [u8; 32] = hx(&doc["_about"]["fixtures"]["lock_hash"]["hex"])
        .try_into()
        .unwrap();
    for name in ["nodesig/msg_node_sig_op0", "nodesig/msg_node_sig_op2"] {
        let case = doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        let msg = MsgNodeSig::decode(hx(&case["serialized_hex"]).as_slice()).unwrap();
        let op = msg.peer_index as usize;
        let signer = recover65(&lock_hash, &msg.signature).unwrap();
        assert_eq!(signer.to_sec1_bytes().to_vec(), keys[op].1, "{name}");
        let built = charon_dkg_sidecar::p2p::nodesig::build(&keys[op].0, &lock_hash, op).unwrap();
        assert_eq!(built, msg, "{name}: our node signature reproduces charon's");
    }
}

#[test]
fn sync_hash_signature_verifies() {
    let doc = load();
    let keys = operator_keys(&doc);
    let def_hash = hx(&doc["_about"]["fixtures"]["session_hash / definition_hash"]["hex"]);
    for case in doc["cases"].as_array().unwrap() {
        if case["message_type"] != "dkg.dkgpb.v1.MsgSync" {
            continue;
        }
        let msg = MsgSync::decode(hx(&case["serialized_hex"]).as_slice()).unwrap();
        let ok = verify_der(keys[0].0.verifying_key(), &def_hash, &msg.hash_signature).is_ok();
        let accepted = case
            .get("accepted_by_charon")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        assert_eq!(ok, accepted, "{}", case["name"]);
    }
}

#[test]
fn frames_and_protocol_ids_match_the_catalogue() {
    let doc = load();
    let frames = &doc["_about"]["frames"];
    for p in frames["varint_length_prefixes"].as_array().unwrap() {
        let len = u(&p["length"]) as usize;
        assert_eq!(
            hex::encode(varint_prefix(len)),
            p["prefix_hex"].as_str().unwrap()
        );
    }
    for p in frames["sync_length_prefixes"].as_array().unwrap() {
        let len = u(&p["length"]) as usize;
        assert_eq!(
            hex::encode((len as i64).to_le_bytes()),
            p["prefix_hex"].as_str().unwrap()
        );
    }
    assert_eq!(
        hex::encode(delimited_frame(&[])),
        frames["bcast_msg_handler_response_hex"].as_str().unwrap()
    );
    let p = &doc["_about"]["protocols"];
    assert_eq!(p["sync"], protocols::SYNC);
    assert_eq!(p["bcast_sig"], Compat::V1_11.bcast_sig());
    assert_eq!(p["bcast_msg"], Compat::V1_11.bcast_msg());
    assert_eq!(p["frost_round1_p2p"], protocols::FROST_ROUND1_P2P);
    assert_eq!(p["parsigex"], protocols::PARSIGEX);
    assert_eq!(p["peerinfo"], protocols::PEERINFO);
    let ids: Vec<String> = list(&p["bcast_message_ids"], s);
    assert_eq!(
        ids,
        protocols::BCAST_MESSAGE_IDS.map(str::to_owned).to_vec()
    );
    let ped: Vec<String> = list(&p["pedersen"], s);
    assert_eq!(
        ped,
        vec![
            protocols::PEDERSEN_DEAL_BUNDLE,
            protocols::PEDERSEN_RESP_BUNDLE,
            protocols::PEDERSEN_JUST_BUNDLE,
            protocols::PEDERSEN_VAL_PUBKEY_SHARE
        ]
    );
}

#[test]
fn any_type_urls_are_go_defaults() {
    let a = pack_any(&MsgNodeSig::default());
    assert_eq!(a.type_url, "type.googleapis.com/dkg.dkgpb.v1.MsgNodeSig");
    assert!(any_is::<MsgNodeSig>(&a));
    // Go only compares the name after the last '/'.
    let other_host = Any {
        type_url: "example.org/x/dkg.dkgpb.v1.MsgNodeSig".into(),
        value: vec![],
    };
    assert!(any_is::<MsgNodeSig>(&other_host));
    assert!(!any_is::<FrostRound1Casts>(&other_host));
    assert_eq!(
        ParSigExMsg::type_url(),
        "type.googleapis.com/core.corepb.v1.ParSigExMsg"
    );
    assert_eq!(
        PeerInfo::type_url(),
        "type.googleapis.com/app.peerinfo.peerinfopb.v1.PeerInfo"
    );
}
