//! The fake Obol API answers like the real one (spec §1, §6.1), and the client
//! maps its answers: paging, 404s, EIP-712 checks on writes, T&C, locks.

use std::time::Duration;

use charon_dkg_sidecar::sidecar::accept::OperatorSigner;
use charon_dkg_sidecar::sidecar::api::{ApiError, ObolApi, PublishOutcome, RetryPolicy};
use charon_dkg_sidecar::sidecar::defn::{self, Eip712Message};
use charon_dkg_sidecar::sidecar::fake_api::{FakeApi, FakeApiOptions};
use charon_dkg_sidecar::sidecar::fixture::{ClusterFixture, OperatorFixture};
use serde_json::{Value, json};

fn client(api: &FakeApi) -> ObolApi {
    ObolApi::new(
        &api.url(),
        Duration::from_secs(2),
        RetryPolicy {
            retries: 1,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
        },
    )
    .unwrap()
}

fn typed(v: &Value) -> defn::Definition {
    defn::parse_definition(v).unwrap()
}

async fn raw(api: &FakeApi, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!(
        "{}{}",
        api.url().as_str().trim_end_matches('/'),
        path
    ))
    .await
    .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn paging_follows_the_spec_shape_for_both_bases() {
    for zero in [false, true] {
        let api = FakeApi::start(FakeApiOptions {
            zero_based_pages: zero,
            ..Default::default()
        })
        .await
        .unwrap();
        let me = OperatorFixture::random().unwrap();
        let mut hashes = Vec::new();
        for i in 0..23u32 {
            let ops = vec![
                OperatorFixture {
                    operator_key: me.operator_key.clone(),
                    node_key: me.node_key.clone(),
                    address: me.address.clone(),
                    enr: me.enr.clone(),
                },
                OperatorFixture::random().unwrap(),
            ];
            let c = ClusterFixture::with_operators(
                "c",
                ops,
                2,
                1,
                &format!("2026-02-{:02}T00:00:00Z", i + 1),
            )
            .unwrap();
            hashes.push(c.config_hash());
            api.put_definition(c.definition.clone());
        }
        let first = u64::from(!zero);
        let (status, body) = raw(
            &api,
            &format!(
                "/v1/definition/operator/{}?page={first}&limit=10",
                me.address.to_uppercase().replacen("0X", "0x", 1)
            ),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["total_count"], json!(23));
        assert_eq!(body["total_pages"], json!(3));
        assert_eq!(body["cluster_definitions"].as_array().unwrap().len(), 10);
        // Newest first.
        assert_eq!(
            body["cluster_definitions"][0]["config_hash"],
            json!(hashes[22])
        );
        let (_, last) = raw(
            &api,
            &format!(
                "/v1/definition/operator/{}?page={}&limit=10",
                me.address,
                first + 2
            ),
        )
        .await;
        assert_eq!(last["cluster_definitions"].as_array().unwrap().len(), 3);
        let (missing, _) = raw(&api, &format!("/v1/definition/operator/{}", me.address)).await;
        assert_eq!(missing, 400);

        let all = client(&api)
            .operator_definitions(&me.address, 10)
            .await
            .unwrap();
        let mut got: Vec<String> = all
            .iter()
            .map(|d| d["config_hash"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        hashes.sort();
        assert_eq!(got, hashes, "zero-based: {zero}");
        // Unknown operator: empty list.
        let none = client(&api)
            .operator_definitions("0x0000000000000000000000000000000000000000", 10)
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}

#[tokio::test]
async fn client_follows_legacy_hints_without_total_pages() {
    let api = FakeApi::start(FakeApiOptions {
        legacy_paging_hints: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let me = OperatorFixture::random().unwrap();
    for i in 0..5u32 {
        let ops = vec![
            OperatorFixture {
                operator_key: me.operator_key.clone(),
                node_key: me.node_key.clone(),
                address: me.address.clone(),
                enr: me.enr.clone(),
            },
            OperatorFixture::random().unwrap(),
        ];
        let c = ClusterFixture::with_operators(
            "c",
            ops,
            2,
            1,
            &format!("2026-02-{:02}T00:00:00Z", i + 1),
        )
        .unwrap();
        api.put_definition(c.definition.clone());
    }
    let (_, body) = raw(
        &api,
        &format!("/v1/definition/operator/{}?page=1&limit=2", me.address),
    )
    .await;
    assert_eq!(body["has_next_page"], json!(true));
    assert_eq!(
        client(&api)
            .operator_definitions(&me.address, 2)
            .await
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn acceptance_is_checked_like_the_real_api() {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let c = ClusterFixture::new("checks", 3, 2, 1, "2026-03-01T00:00:00Z").unwrap();
    let cl = client(&api);
    // Creating requires the creator's T&C.
    let chain = 560_048;
    let sig = defn::sign_message(
        &c.creator,
        Eip712Message::CreatorConfigHash(&c.config_hash(), chain),
    )
    .unwrap();
    let e = cl.create_definition(&c.definition, &sig).await.unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    assert!(e.to_string().contains("Missing t&c signature"));
    c.publish(&cl).await.unwrap();
    let e = cl.create_definition(&c.definition, &sig).await.unwrap_err();
    assert_eq!(e.status(), Some(409));

    let op = &c.operators[0];
    let signer = op.signer();
    let (body, cfg_sig) = signer.acceptance(&typed(&c.definition), &op.enr).unwrap();
    // No T&C yet.
    let e = cl
        .accept_definition(&c.config_hash(), &body, &cfg_sig)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(e.to_string().contains("Missing t&c signature"), "{e}");
    // T&C with a signature of another key is refused.
    let other = OperatorSigner::new(defn::random_key());
    let e = cl
        .accept_terms(signer.address(), "0x10000910", &other.sign_terms().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    cl.accept_terms(
        signer.address(),
        "0x10000910",
        &signer.sign_terms().unwrap(),
    )
    .await
    .unwrap();
    assert!(cl.terms_signed(signer.address()).await.unwrap());
    // Repeated T&C is fine for the client.
    cl.accept_terms(
        signer.address(),
        "0x10000910",
        &signer.sign_terms().unwrap(),
    )
    .await
    .unwrap();
    // A config signature by another key.
    let (_, bad_sig) = other.acceptance(&typed(&c.definition), &op.enr).unwrap();
    let e = cl
        .accept_definition(&c.config_hash(), &body, &bad_sig)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    // An ENR signature over another ENR.
    let mut wrong_enr = body.clone();
    wrong_enr["enr"] = json!(c.operators[1].enr);
    let e = cl
        .accept_definition(&c.config_hash(), &wrong_enr, &cfg_sig)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    // Someone who is not an operator of the cluster.
    let (obody, osig) = other.acceptance(&typed(&c.definition), &op.enr).unwrap();
    cl.accept_terms(other.address(), "0x10000910", &other.sign_terms().unwrap())
        .await
        .unwrap();
    let e = cl
        .accept_definition(&c.config_hash(), &obody, &osig)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("Data not found"));
    // Unknown definition.
    let e = cl
        .accept_definition(&format!("0x{}", "00".repeat(32)), &body, &cfg_sig)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    // The genuine acceptance: stored, definition hash recomputed, config hash unchanged.
    let updated = cl
        .accept_definition(&c.config_hash(), &body, &cfg_sig)
        .await
        .unwrap();
    assert_eq!(updated["config_hash"], json!(c.config_hash()));
    assert_ne!(updated["definition_hash"], c.definition["definition_hash"]);
    assert_eq!(updated["operators"][0]["enr"], json!(op.enr));
    defn::verify_invitation(&updated).unwrap();
    assert_eq!(
        cl.definition(&c.config_hash()).await.unwrap().unwrap(),
        updated
    );
    assert!(
        cl.definition(&format!("0x{}", "00".repeat(32)))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn locks_are_idempotent_or_conflict() {
    for conflict in [false, true] {
        let api = FakeApi::start(FakeApiOptions {
            lock_conflict_on_duplicate: conflict,
            ..Default::default()
        })
        .await
        .unwrap();
        let c = ClusterFixture::new("locks", 3, 2, 1, "2026-03-01T00:00:00Z").unwrap();
        let cl = client(&api);
        let lock = json!({"cluster_definition": c.definition, "lock_hash": format!("0x{}", "ab".repeat(32))});
        let e = cl.publish_lock(&lock).await.unwrap_err();
        assert_eq!(e.status(), Some(404));
        api.put_definition(c.definition.clone());
        assert_eq!(
            cl.publish_lock(&lock).await.unwrap(),
            PublishOutcome::Stored
        );
        let again = cl.publish_lock(&lock).await.unwrap();
        assert_eq!(
            again,
            if conflict {
                PublishOutcome::AlreadyPublished
            } else {
                PublishOutcome::Stored
            }
        );
        assert_eq!(api.locks().len(), 1);
        assert!(
            cl.lock(&format!("0x{}", "ab".repeat(32)))
                .await
                .unwrap()
                .is_some()
        );
        let (s, _) = raw(&api, &format!("/lock/configHash/{}", c.config_hash())).await;
        assert_eq!(s, 200);
        let (s, b) = raw(&api, "/v1/lock/0x1234").await;
        assert_eq!((s, b["message"].as_str()), (404, Some("Cluster not found")));
    }
}

#[tokio::test]
async fn errors_are_mapped_and_retried() {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let cl = client(&api);
    api.fail_next(1, 503);
    cl.health().await.unwrap();
    api.fail_next(5, 500);
    let e = cl.health().await.unwrap_err();
    assert!(matches!(e, ApiError::Status { status: 500, .. }));
    assert!(e.to_string().contains("An unknown error occurred"));
    api.fail_next(0, 500);
    api.malformed_next(1);
    let e = cl
        .terms_signed("0x0000000000000000000000000000000000000000")
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Invalid { .. }), "{e}");
    api.stall_next(2, Duration::from_secs(4));
    let e = cl.health().await.unwrap_err();
    assert!(matches!(e, ApiError::Timeout { .. }), "{e}");
    // Nothing listening.
    let dead = ObolApi::new(
        &"http://127.0.0.1:9/".parse().unwrap(),
        Duration::from_secs(1),
        RetryPolicy {
            retries: 0,
            ..Default::default()
        },
    )
    .unwrap();
    let e = dead.health().await.unwrap_err();
    assert!(matches!(e, ApiError::Unreachable { .. }), "{e}");
}

/// Security review B6: a listing's pages together are bounded; the client
/// stops reading pages once the bound is passed and keeps the newest ones.
#[tokio::test]
async fn a_listing_is_bounded_in_total_bytes() {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let me = OperatorFixture::random().unwrap().address;
    for i in 0..40u32 {
        api.put_definition(json!({
            "config_hash": format!("0x{}", hex::encode([i as u8; 32])),
            "timestamp": format!("2026-01-01T00:00:{:02}Z", i),
            "name": "x".repeat(10_000),
            "operators": [{"address": me}],
        }));
    }
    let all = client(&api).operator_definitions(&me, 4).await.unwrap();
    assert_eq!(all.len(), 40);
    let before = api.requests().len();
    let bounded = client(&api)
        .with_max_listing_bytes(50_000)
        .operator_definitions(&me, 4)
        .await
        .unwrap();
    let pages = api.requests().len() - before;
    assert!(
        bounded.len() < 40 && !bounded.is_empty(),
        "{}",
        bounded.len()
    );
    assert!(pages < 10, "kept reading: {pages} pages");
    // The newest come first, so the bound keeps those.
    assert_eq!(bounded[0]["timestamp"], json!("2026-01-01T00:00:39Z"));
}

/// A lock holds about 3 KB per validator, so a 10,000-validator lock is
/// past the 16 MiB that bounds definitions; fetching it by lock hash must
/// still work, while a definition that large is refused.
#[tokio::test]
async fn a_large_clusters_lock_is_fetched_past_the_definition_bound() {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let c = ClusterFixture::new("big", 3, 2, 1, "2026-03-01T00:00:00Z").unwrap();
    let hash = format!("0x{}", "cd".repeat(32));
    let padding = "a".repeat(24 << 20);
    api.put_lock(json!({
        "cluster_definition": c.definition,
        "lock_hash": hash,
        "padding": padding,
    }));
    let cl = client(&api);
    let got = cl.lock(&hash).await.unwrap().unwrap();
    assert_eq!(got["padding"].as_str().map(str::len), Some(24 << 20));

    let mut def = c.definition.clone();
    def["padding"] = json!(padding);
    api.put_definition(def);
    let e = cl.definition(&c.config_hash()).await.unwrap_err();
    assert!(e.to_string().contains("exceeds 16 MiB"), "{e}");
}
