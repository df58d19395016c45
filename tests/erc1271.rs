//! Definitions signed by smart-contract wallets (ERC-1271, e.g. a Safe):
//! rejected with advice when no execution client is given, checked with an
//! `isValidSignature` eth_call when one is, with every way the endpoint can
//! misbehave turned into one clear error.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use charon_dkg_sidecar::cmd::localnet::{NodeOptions, Relay, start_node, wait_all};
use charon_dkg_sidecar::dkg::erc1271::{ContractCheckError, Erc1271Error, ExecutionClient};
use charon_dkg_sidecar::dkg::preflight::{self, PreflightError};
use charon_dkg_sidecar::lock::contract::SignatureRole;
use charon_dkg_sidecar::lock::k1::{self, K1Secret};
use charon_dkg_sidecar::lock::network::NetworkSet;
use charon_dkg_sidecar::lock::sample::sign_definition;
use charon_dkg_sidecar::lock::verify::{verify_definition_deferred, verify_lock_deferred};
use charon_dkg_sidecar::lock::{
    Definition, Lock, Subject, VerifyOptions, Version, eip712, verify_definition, verify_lock,
};
use serde_json::json;

mod common;

use common::contract_wallets::{self, FLAG, Fixture, one_line, owner, verify_cli, write};
use common::fake_el::{ClosingServer, FakeEl, Mode};

/// Operator 1's contract wallet.
const OP_WALLET: [u8; 20] = [0xc1; 20];
/// The creator's contract wallet.
const CREATOR_WALLET: [u8; 20] = [0xc2; 20];

/// A lock whose operator 1 and/or creator sign through the fake wallets.
fn fixture(version: Version, op_contract: bool, creator_contract: bool, seed: u64) -> Fixture {
    contract_wallets::fixture(
        version,
        op_contract.then_some(OP_WALLET),
        creator_contract.then_some(CREATOR_WALLET),
        seed,
    )
}

fn client(el: &FakeEl) -> ExecutionClient {
    ExecutionClient::new(&el.url).unwrap()
}

/// The calldata of `isValidSignature(hash, sig)`, spelled out word by word.
fn expected_calldata(hash: &[u8; 32], sig: &[u8]) -> String {
    let pad = (32 - sig.len() % 32) % 32;
    format!(
        "0x1626ba7e{}{}{:064x}{}{}",
        hex::encode(hash),
        "0000000000000000000000000000000000000000000000000000000000000040",
        sig.len(),
        hex::encode(sig),
        "00".repeat(pad)
    )
}

#[test]
fn without_an_endpoint_contract_signatures_are_rejected_naming_the_signer_and_the_flag() {
    let op_addr = k1::checksum_address(&OP_WALLET);
    let creator_addr = k1::checksum_address(&CREATOR_WALLET);
    let cases = [
        (
            Version::V1_11,
            true,
            false,
            "invalid operator config signature (operator 1)",
            op_addr.as_str(),
            "130-byte signature is not an EOA signature",
        ),
        (
            Version::V1_10,
            true,
            false,
            "invalid operator config signature (operator 1)",
            op_addr.as_str(),
            "signed by",
        ),
        (
            Version::V1_11,
            false,
            true,
            "invalid creator config signature (creator)",
            creator_addr.as_str(),
            "signed by",
        ),
    ];
    for (v, op, creator, check, addr, why) in cases {
        let f = fixture(v, op, creator, 1);
        for e in [
            verify_definition(&f.lock.definition, &VerifyOptions::CHARON)
                .unwrap_err()
                .to_string(),
            verify_lock(&f.lock, &VerifyOptions::default())
                .unwrap_err()
                .to_string(),
        ] {
            assert!(e.contains(check), "{v}: {e}");
            assert!(e.contains(why), "{v}: {e}");
            assert!(
                e.contains(&format!("if {addr} is a smart-contract wallet")),
                "{v}: {e}"
            );
            assert!(e.contains(FLAG), "{v}: {e}");
        }
    }
    // Sanity: the same files without the contract wallets verify offline.
    let f = fixture(Version::V1_11, false, false, 1);
    verify_lock(&f.lock, &VerifyOptions::default()).unwrap();
}

#[tokio::test]
async fn contract_signatures_are_asked_with_exactly_abi_encoded_calls() {
    let el = FakeEl::start();
    let f = fixture(Version::V1_11, true, true, 2);
    f.accept_all(&el);
    let pending = verify_definition_deferred(&f.lock.definition, &VerifyOptions::CHARON).unwrap();
    let roles: Vec<(SignatureRole, Subject)> =
        pending.iter().map(|c| (c.role, c.subject)).collect();
    assert_eq!(
        roles,
        [
            (SignatureRole::OperatorConfig, Subject::Operator(1)),
            (SignatureRole::OperatorEnr, Subject::Operator(1)),
            (SignatureRole::CreatorConfig, Subject::Creator),
        ]
    );
    client(&el).check(pending).await.unwrap();

    let requests = el.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for (req, (addr, hash, sig)) in requests.iter().zip(&f.triples) {
        let want = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [
                {"to": format!("0x{}", hex::encode(addr)), "data": expected_calldata(hash, sig)},
                "latest"
            ]
        });
        assert_eq!(req, &want);
    }
    // The 130-byte Safe signature: length 0x82, then 30 bytes of padding.
    let data = requests[0]["params"][0]["data"].as_str().unwrap();
    assert_eq!(data.len(), 2 + 2 * (4 + 32 * 3 + 160));
    assert!(data.contains(&format!("{:064x}", 130)));
    assert!(data.ends_with(&"00".repeat(30)));

    // The lock of the same definition: the same three signatures, all other
    // checks (aggregate, shares, node signatures) done offline.
    let pending = verify_lock_deferred(&f.lock, &VerifyOptions::default()).unwrap();
    assert_eq!(pending.len(), 3);
    client(&el).check(pending).await.unwrap();
    assert_eq!(el.requests().len(), 6);
}

#[tokio::test]
async fn eoa_signatures_never_reach_the_endpoint() {
    let el = FakeEl::start();
    let f = fixture(Version::V1_11, false, false, 3);
    let pending = verify_lock_deferred(&f.lock, &VerifyOptions::default()).unwrap();
    assert!(pending.is_empty());
    client(&el).check(pending).await.unwrap();
    // Only operator 1 is a contract: the creator's and the other operators'
    // EOA signatures are checked offline.
    let f = fixture(Version::V1_10, true, false, 3);
    f.accept_all(&el);
    let pending = verify_definition_deferred(&f.lock.definition, &VerifyOptions::CHARON).unwrap();
    assert_eq!(pending.len(), 2);
    client(&el).check(pending).await.unwrap();
    assert_eq!(el.requests().len(), 2);
}

#[tokio::test]
async fn a_contract_that_does_not_accept_rejects_the_file() {
    let el = FakeEl::start();
    let f = fixture(Version::V1_11, true, true, 4);
    // The operator's contract accepts its signatures, the creator's contract
    // accepts the creator's signature only over another hash.
    for (a, h, s) in &f.triples[..2] {
        el.accept(*a, *h, s);
    }
    let (a, _, s) = &f.triples[2];
    el.accept(*a, [0u8; 32], s);
    let pending = verify_definition_deferred(&f.lock.definition, &VerifyOptions::CHARON).unwrap();
    let err = client(&el).check(pending).await.unwrap_err();
    let ContractCheckError::Rejected(v) = &err else {
        panic!("{err}");
    };
    assert_eq!(v.check, "invalid creator config signature");
    assert_eq!(v.subject, Subject::Creator);
    let e = err.to_string();
    assert!(e.contains(&k1::checksum_address(&CREATOR_WALLET)), "{e}");
    assert!(
        e.contains("returned 0xffffffff instead of the magic value 0x1626ba7e"),
        "{e}"
    );
}

async fn check_with(el: &FakeEl, mode: Mode, timeout: Duration) -> ContractCheckError {
    el.set_mode(mode);
    let f = fixture(Version::V1_11, true, false, 5);
    f.accept_all(el);
    let pending = verify_definition_deferred(&f.lock.definition, &VerifyOptions::CHARON).unwrap();
    ExecutionClient::with_timeout(&el.url, timeout)
        .unwrap()
        .check(pending)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn answers_that_are_not_the_magic_value_reject_and_broken_endpoints_are_errors() {
    let el = FakeEl::start();
    let t = Duration::from_secs(10);
    // The call ran and did not return the magic value: the signature is invalid.
    for (mode, says) in [
        (Mode::RpcError, "JSON-RPC error -32601"),
        (Mode::Revert, "JSON-RPC error 3: execution reverted: GS026"),
        (Mode::RightAligned, "instead of the magic value"),
    ] {
        let err = check_with(&el, mode, t).await;
        assert!(
            matches!(err, ContractCheckError::Rejected(_)),
            "{mode:?}: {err}"
        );
        let e = err.to_string();
        assert!(
            e.contains("invalid operator config signature (operator 1)"),
            "{e}"
        );
        assert!(e.contains("does not accept it"), "{e}");
        assert!(e.contains(says), "{mode:?}: {e}");
    }
    // No verdict: the endpoint is at fault, and says what to check.
    let endpoint = |err: ContractCheckError| match err {
        ContractCheckError::Endpoint { error, .. } => error,
        other => panic!("{other}"),
    };
    let e = endpoint(check_with(&el, Mode::Garbage, t).await);
    assert!(matches!(e, Erc1271Error::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("not JSON"), "{e}");
    let e = endpoint(check_with(&el, Mode::Unavailable, t).await);
    assert!(matches!(e, Erc1271Error::Status { status: 503, .. }), "{e}");
    // Streamed without a length, well-formed and starting with the magic
    // value: only the size cap stops it.
    let e = endpoint(check_with(&el, Mode::Huge, t).await);
    assert!(matches!(e, Erc1271Error::TooLarge { .. }), "{e}");
    let start = Instant::now();
    let e = endpoint(check_with(&el, Mode::Slow, Duration::from_millis(300)).await);
    assert!(matches!(e, Erc1271Error::Timeout { .. }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(e.to_string().contains(FLAG), "{e}");

    let down = ClosingServer::start();
    let f = fixture(Version::V1_11, true, false, 5);
    let pending = verify_definition_deferred(&f.lock.definition, &VerifyOptions::CHARON).unwrap();
    let err = ExecutionClient::new(&format!("{}/v3/SECRETKEY", down.url))
        .unwrap()
        .check(pending)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            ContractCheckError::Endpoint {
                error: Erc1271Error::Unreachable { .. },
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("is unreachable"), "{msg}");
    assert!(
        msg.contains("operator config signature (operator 1)"),
        "{msg}"
    );
    assert!(!msg.contains("SECRETKEY"), "{msg}");
}

#[tokio::test]
async fn dkg_preflight_asks_the_contracts_and_names_the_flag_without_an_endpoint() {
    let f = fixture(Version::V1_11, true, true, 6);
    let bytes = f.lock.definition.to_json().unwrap();
    let nets = NetworkSet::DEFAULT;
    let run = |client: Option<ExecutionClient>, no_verify: bool| {
        let bytes = bytes.clone();
        async move {
            preflight::check_definition_with(
                "def.json",
                &bytes,
                no_verify,
                nets,
                Version::V1_11,
                client.as_ref(),
            )
            .await
        }
    };
    let e = run(None, false).await.unwrap_err().to_string();
    assert!(e.contains("--no-verify") && e.contains(FLAG), "{e}");
    assert!(e.contains(&k1::checksum_address(&OP_WALLET)), "{e}");

    let el = FakeEl::start();
    // Nothing accepted yet: a rejection of the signatures.
    let e = run(Some(client(&el)), false).await.unwrap_err();
    assert!(
        matches!(
            e,
            PreflightError::Verify {
                what: "signatures",
                ..
            }
        ),
        "{e}"
    );
    // --no-verify downgrades it to a warning, as charon.
    run(Some(client(&el)), true).await.unwrap();
    f.accept_all(&el);
    let checked = run(Some(client(&el)), false).await.unwrap();
    assert_eq!(
        checked.definition.definition_hash,
        f.lock.definition.definition_hash
    );

    let down = ClosingServer::start();
    let e = run(Some(ExecutionClient::new(&down.url).unwrap()), false)
        .await
        .unwrap_err();
    assert!(matches!(e, PreflightError::ExecutionClient(_)), "{e}");
    assert!(e.to_string().contains("unreachable"), "{e}");
}

// ---- the CLI -----------------------------------------------------------------

#[test]
fn verify_cli_checks_contract_signatures_through_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(Version::V1_11, true, true, 7);
    let def = write(
        dir.path(),
        "def.json",
        &f.lock.definition.to_json().unwrap(),
    );
    let lock = write(dir.path(), "lock.json", &f.lock.to_json().unwrap());

    // Without an endpoint: rejected, naming the wallet and the flag.
    let r = verify_cli(&["--definition", &def], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(one_line(&r.stderr), "{:?}", r.stderr);
    assert!(
        r.stderr.contains(&k1::checksum_address(&OP_WALLET)),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(FLAG), "{}", r.stderr);

    let el = FakeEl::start();
    // The contracts do not accept (yet): rejected.
    let r = verify_cli(&["--definition", &def, FLAG, &el.url], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(one_line(&r.stderr), "{:?}", r.stderr);
    assert!(r.stderr.contains("does not accept it"), "{}", r.stderr);

    f.accept_all(&el);
    let r = verify_cli(&["--definition", &def, FLAG, &el.url], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("definition accepted"), "{}", r.stdout);
    let r = verify_cli(&["--lock", &lock, FLAG, &el.url], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("lock accepted"), "{}", r.stdout);
    // The environment variable works as the flag.
    let r = verify_cli(
        &["--lock", &lock],
        &[("CHARON_EXECUTION_CLIENT_RPC_ENDPOINT", &el.url)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // One call for the rejected run (it stops at the first signature), three
    // for each accepted one.
    assert_eq!(el.requests().len(), 1 + 3 * 3);
}

#[test]
fn verify_cli_reports_an_unusable_endpoint_without_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(Version::V1_11, true, false, 8);
    let def = write(
        dir.path(),
        "def.json",
        &f.lock.definition.to_json().unwrap(),
    );
    let down = ClosingServer::start();
    let secret_url = format!("{}/v3/SECRETKEY", down.url);
    let r = verify_cli(&["--definition", &def, FLAG, &secret_url], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(one_line(&r.stderr), "{:?}", r.stderr);
    assert!(r.stderr.contains("unreachable"), "{}", r.stderr);
    assert!(!r.stderr.contains("SECRETKEY"), "{}", r.stderr);

    let r = verify_cli(&["--definition", &def, FLAG, "ws://node/SECRETKEY"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(FLAG), "{}", r.stderr);
    assert!(!r.stderr.contains("SECRETKEY"), "{}", r.stderr);

    // A file without contract signatures never contacts the endpoint.
    let f = fixture(Version::V1_11, false, false, 8);
    let def = write(
        dir.path(),
        "eoa.json",
        &f.lock.definition.to_json().unwrap(),
    );
    let r = verify_cli(&["--definition", &def, FLAG, &secret_url], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn verify_help_explains_the_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_charon-dkg-sidecar"))
        .args(["verify", "--help"])
        .env("CHARON_EXECUTION_CLIENT_RPC_ENDPOINT", "http://h/SECRETKEY")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains(FLAG) && help.contains("ERC-1271"), "{help}");
    assert!(
        help.contains("CHARON_EXECUTION_CLIENT_RPC_ENDPOINT"),
        "{help}"
    );
    assert!(!help.contains("SECRETKEY"), "{help}");
}

// ---- a whole ceremony ----------------------------------------------------------

const EXE: &str = env!("CARGO_BIN_EXE_charon-dkg-sidecar");

fn run_dkg(
    c: &common::Cluster,
    relay: &Relay,
    which: &[usize],
    extra: &[&str],
) -> Vec<charon_dkg_sidecar::cmd::localnet::NodeRun> {
    let opts = NodeOptions {
        definition: c.definition.clone(),
        relay_url: relay.url.clone(),
        timeout: "60s".into(),
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
    };
    let mut nodes: Vec<_> = which
        .iter()
        .map(|&i| start_node(Path::new(EXE), i, &c.nodes[i], &opts).unwrap())
        .collect();
    wait_all(&mut nodes, Duration::from_secs(300)).unwrap();
    nodes
}

#[test]
fn a_ceremony_with_a_safe_operator_asks_its_contract_at_load_and_at_step_6() {
    let c = common::cluster(3, 1, "v1.11.0", &[]);
    // The create-dkg definition, signed as its operators and creator would:
    // operator 1 through a 2-owner Safe.
    let mut d = Definition::from_json(&std::fs::read(&c.definition).unwrap()).unwrap();
    let wallets: Vec<K1Secret> = (0..3).map(|i| owner(0x30 + i)).collect();
    let addr = |k: &K1Secret| k1::checksum_address(&k1::address_from_pubkey(&k.public_key()));
    for (o, w) in d.operators.iter_mut().zip(&wallets) {
        o.address = addr(w);
    }
    d.operators[1].address = k1::checksum_address(&OP_WALLET);
    let creator = owner(0x40);
    d.creator.address = addr(&creator);
    let chain = eip712::chain_id(&d.fork_version, NetworkSet::DEFAULT).unwrap();
    sign_definition(&mut d, &wallets, Some(&creator), chain).unwrap();
    let op_digest = eip712::operator_config_digest(d.version, &d.config_hash, chain);
    let enr_digest = eip712::enr_digest(&d.operators[1].enr, chain);
    let mut config = k1::sign65(&owner(0x21), &op_digest).unwrap().to_vec();
    config.extend_from_slice(&k1::sign65(&owner(0x22), &op_digest).unwrap());
    let enr = k1::sign65(&owner(0x21), &enr_digest).unwrap().to_vec();
    d.operators[1].config_signature = config.clone();
    d.operators[1].enr_signature = enr.clone();
    d.definition_hash = d.definition_hash().unwrap().to_vec();
    std::fs::write(&c.definition, d.to_json().unwrap()).unwrap();

    let el = FakeEl::start();
    el.accept(OP_WALLET, op_digest, &config);
    el.accept(OP_WALLET, enr_digest, &enr);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();

    // Without an endpoint a node stops at the definition, before any
    // networking, saying what to pass.
    let nodes = run_dkg(&c, &relay, &[0], &[]);
    let log = nodes[0].log_text();
    assert!(!nodes[0].status.unwrap().success(), "{log}");
    assert!(log.contains(FLAG), "{log}");
    assert!(log.contains(&k1::checksum_address(&OP_WALLET)), "{log}");
    assert!(!c.nodes[0].join("cluster-lock.json").exists());
    assert!(el.requests().is_empty());

    // With it, every node asks about both of the Safe's signatures when it
    // loads the definition and again at step 6, and the ceremony completes.
    let nodes = run_dkg(&c, &relay, &[0, 1, 2], &[FLAG, &el.url]);
    for n in &nodes {
        assert!(
            n.status.unwrap().success(),
            "node {}: {}",
            n.index,
            n.log_text()
        );
    }
    assert_eq!(el.requests().len(), 3 * 2 * 2);
    let lock =
        Lock::from_json(&std::fs::read(c.nodes[0].join("cluster-lock.json")).unwrap()).unwrap();
    assert_eq!(lock.definition.operators[1].config_signature, config);
    let pending = verify_lock_deferred(&lock, &VerifyOptions::default()).unwrap();
    assert_eq!(pending.len(), 2);
}

/// On charon's own files, deferral changes nothing but the fate of the
/// signatures it defers: what verifies offline gives nothing to ask, and
/// what is deferred is exactly what offline verification rejects.
#[test]
fn deferral_agrees_with_offline_verification_on_every_vector() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}EXPECTED.json")).unwrap()).unwrap();
    let opts = VerifyOptions::CHARON;
    let mut deferred_some = 0;
    for (name, exp) in expected.as_object().unwrap() {
        let bytes = std::fs::read(format!("{dir}{name}")).unwrap();
        let (plain, deferred) = if exp["kind"] == "lock" {
            let Ok(l) = Lock::from_json(&bytes) else {
                continue;
            };
            (verify_lock(&l, &opts), verify_lock_deferred(&l, &opts))
        } else {
            let Ok(d) = Definition::from_json(&bytes) else {
                continue;
            };
            (
                verify_definition(&d, &opts),
                verify_definition_deferred(&d, &opts),
            )
        };
        match (&plain, &deferred) {
            (Ok(()), Ok(p)) => assert!(p.is_empty(), "{name}"),
            (Err(e), Ok(p)) => {
                assert!(!p.is_empty(), "{name}: {e}");
                let first = p.iter().next().unwrap();
                // Offline, a signature that does not even recover keeps
                // charon's recovery error as its check.
                assert!(
                    [
                        first.role.invalid_check(),
                        "pubkey from signature",
                        "invalid recovery id"
                    ]
                    .contains(&e.check),
                    "{name}: {e}"
                );
                assert_eq!(e.subject, first.subject, "{name}: {e}");
                deferred_some += 1;
            }
            (Err(_), Err(_)) => {}
            (Ok(()), Err(e)) => panic!("{name}: deferred verification rejects: {e}"),
        }
    }
    // charon's test files carry random filler signatures: some are deferred.
    assert!(deferred_some > 0);
}

#[test]
fn dkg_refuses_an_unusable_endpoint_at_once_and_documents_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(EXE)
        .args(["dkg", "--data-dir"])
        .arg(dir.path())
        .args([FLAG, "wss://node/SECRETKEY", "--monitoring-address", ""])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("invalid configuration: {FLAG}")),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRETKEY"), "{stderr}");

    let out = Command::new(EXE)
        .args(["dkg", "--help"])
        .env("CHARON_EXECUTION_CLIENT_RPC_ENDPOINT", "http://h/SECRETKEY")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains(FLAG) && help.contains("ERC-1271"), "{help}");
    assert!(!help.contains("SECRETKEY"), "{help}");
}
