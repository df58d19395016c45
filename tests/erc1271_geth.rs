//! Contract-wallet (ERC-1271) signatures checked by real contracts on a real
//! execution client: `geth --dev` (built from the Go module proxy, see
//! `tests/interop/geth`), with two hand-assembled wallets deployed on it.
//! The accepting one answers the magic value only to `isValidSignature`
//! calls carrying one of the digests built into its code, so these tests
//! prove the right digest reaches the right contract; the refusing one
//! answers 32 zero bytes to everything.

use charon_dkg_sidecar::dkg::erc1271::{ContractCheckError, ExecutionClient, Verdict};
use charon_dkg_sidecar::lock::k1;
use charon_dkg_sidecar::lock::verify::{verify_definition_deferred, verify_lock_deferred};
use charon_dkg_sidecar::lock::{Subject, VerifyOptions, Version};
use serde_json::json;

mod common;
mod interop;

use common::contract_wallets::{FLAG, Fixture, fixture, one_line, verify_cli, write};
use interop::geth::DevGeth;

/// EVM runtime of a wallet that accepts exactly the hashes in `accepted`:
///
/// ```text
///     PUSH1 0 CALLDATALOAD PUSH1 0xe0 SHR PUSH4 0x1626ba7e EQ   ; selector ok?
///     PUSH1 4 CALLDATALOAD                                      ; the hash
///     for each h: DUP1 PUSH32 h EQ DUP3 AND PUSH2 accept JUMPI
///     PUSH1 32 PUSH1 0 RETURN                                   ; 32 zero bytes
/// accept:
///     JUMPDEST PUSH4 0x1626ba7e PUSH1 0xe0 SHL PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
/// ```
fn wallet_runtime(accepted: &[[u8; 32]]) -> Vec<u8> {
    const PREFIX: usize = 15;
    const PER_HASH: usize = 41;
    const REFUSE: usize = 5;
    let accept = u16::try_from(PREFIX + PER_HASH * accepted.len() + REFUSE).unwrap();
    let mut code = vec![
        0x60, 0x00, 0x35, 0x60, 0xe0, 0x1c, 0x63, 0x16, 0x26, 0xba, 0x7e, 0x14, 0x60, 0x04, 0x35,
    ];
    for h in accepted {
        code.extend_from_slice(&[0x80, 0x7f]);
        code.extend_from_slice(h);
        code.extend_from_slice(&[0x14, 0x82, 0x16, 0x61]);
        code.extend_from_slice(&accept.to_be_bytes());
        code.push(0x57);
    }
    code.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0xf3]);
    assert_eq!(code.len(), usize::from(accept));
    code.extend_from_slice(&[
        0x5b, 0x63, 0x16, 0x26, 0xba, 0x7e, 0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60,
        0x00, 0xf3,
    ]);
    code
}

/// Init code that deploys `runtime`:
/// `PUSH2 len DUP1 PUSH2 13 PUSH1 0 CODECOPY PUSH1 0 RETURN`, then the runtime.
fn init_code(runtime: &[u8]) -> Vec<u8> {
    let len = u16::try_from(runtime.len()).unwrap().to_be_bytes();
    let mut code = vec![
        0x61, len[0], len[1], 0x80, 0x61, 0x00, 0x0d, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(runtime);
    code
}

/// A dev node with three wallets: operator 1's and the creator's of `file`,
/// each accepting its own digests, and one that accepts nothing.
struct Chain {
    geth: DevGeth,
    file: Fixture,
    op_wallet: [u8; 20],
    creator_wallet: [u8; 20],
    refusing: [u8; 20],
}

fn chain() -> Chain {
    let geth = DevGeth::start();
    let dev = geth.dev_account();
    // The definition names the wallets, and their code holds its digests:
    // CREATE addresses are known before deployment.
    let [op_wallet, creator_wallet, refusing] =
        [0, 1, 2].map(|k| geth.next_contract_address(&dev, k));
    let file = fixture(Version::V1_11, Some(op_wallet), Some(creator_wallet), 21);
    for (wallet, accepted) in [
        (op_wallet, file.digests_of(&op_wallet)),
        (creator_wallet, file.digests_of(&creator_wallet)),
        (refusing, Vec::new()),
    ] {
        let deployed = geth.deploy(&dev, &init_code(&wallet_runtime(&accepted)));
        assert_eq!(deployed, wallet, "deployed at an unexpected address");
    }
    Chain {
        geth,
        file,
        op_wallet,
        creator_wallet,
        refusing,
    }
}

#[test]
fn verify_cli_asks_real_contracts_on_geth() {
    let c = chain();
    let url = c.geth.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let def = write(
        dir.path(),
        "def.json",
        &c.file.lock.definition.to_json().unwrap(),
    );
    let lock = write(dir.path(), "lock.json", &c.file.lock.to_json().unwrap());

    // The wallets accept their Safe-style signatures.
    let r = verify_cli(&["--definition", &def, FLAG, url], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("definition accepted"), "{}", r.stdout);
    let r = verify_cli(&["--lock", &lock, FLAG, url], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("lock accepted"), "{}", r.stdout);

    // Without the endpoint the same file is rejected, naming the flag.
    let r = verify_cli(&["--definition", &def], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(one_line(&r.stderr), "{:?}", r.stderr);
    assert!(r.stderr.contains(FLAG), "{}", r.stderr);

    // Operator 1 is the refusing contract: rejected, naming it.
    let refused = fixture(Version::V1_11, Some(c.refusing), None, 22);
    let def = write(
        dir.path(),
        "refused.json",
        &refused.lock.definition.to_json().unwrap(),
    );
    let r = verify_cli(&["--definition", &def, FLAG, url], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(one_line(&r.stderr), "{:?}", r.stderr);
    let e = &r.stderr;
    assert!(e.contains(&k1::checksum_address(&c.refusing)), "{e}");
    assert!(e.contains("does not accept it"), "{e}");
    assert!(
        e.contains("returned 0x00000000 instead of the magic value"),
        "{e}"
    );

    // The accepting wallet of another definition: its digests differ, so
    // the wallet refuses it too.
    let other = fixture(Version::V1_11, Some(c.op_wallet), None, 23);
    let def = write(
        dir.path(),
        "other.json",
        &other.lock.definition.to_json().unwrap(),
    );
    let r = verify_cli(&["--definition", &def, FLAG, url], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&k1::checksum_address(&c.op_wallet)),
        "{}",
        r.stderr
    );
}

#[test]
fn the_execution_client_gets_verdicts_from_real_contracts_on_geth() {
    let c = chain();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = ExecutionClient::new(&c.geth.url).unwrap();
    let opts = VerifyOptions::default();

    // Operator 1's config and ENR signatures and the creator's, each asked
    // of its own wallet.
    let pending = verify_lock_deferred(&c.file.lock, &opts).unwrap();
    assert_eq!(pending.len(), 3);
    rt.block_on(client.check(pending)).unwrap();
    let pending = verify_definition_deferred(&c.file.lock.definition, &opts).unwrap();
    rt.block_on(client.check(pending)).unwrap();

    let ask = |wallet: &[u8; 20], hash: &[u8; 32], sig: &[u8]| {
        rt.block_on(client.is_valid_signature(wallet, hash, sig))
            .unwrap()
    };
    let (_, op_digest, op_sig) = &c.file.triples[0];
    let (_, creator_digest, creator_sig) = &c.file.triples[2];
    assert_eq!(ask(&c.op_wallet, op_digest, op_sig), Verdict::Valid);
    assert_eq!(
        ask(&c.creator_wallet, creator_digest, creator_sig),
        Verdict::Valid
    );
    // A wallet refuses another wallet's digest, and the refusing wallet
    // refuses everything.
    let Verdict::Invalid(why) = ask(&c.op_wallet, creator_digest, creator_sig) else {
        panic!("operator 1's wallet accepted the creator's digest");
    };
    assert!(why.contains("returned 0x00000000"), "{why}");
    assert!(matches!(
        ask(&c.refusing, op_digest, op_sig),
        Verdict::Invalid(_)
    ));
    // An address without code returns no data.
    let Verdict::Invalid(why) = ask(&[0x42; 20], op_digest, op_sig) else {
        panic!("an empty account accepted");
    };
    assert!(why.contains("no contract"), "{why}");

    // The wallet answers the magic value only to isValidSignature's selector.
    let call = |selector: &str| {
        let data = format!("0x{selector}{}", hex::encode(op_digest));
        let to = format!("0x{}", hex::encode(c.op_wallet));
        c.geth
            .rpc("eth_call", json!([{"to": to, "data": data}, "latest"]))
    };
    assert_eq!(call("1626ba7e"), format!("0x1626ba7e{}", "00".repeat(28)));
    assert_eq!(call("20c13b0b"), format!("0x{}", "00".repeat(32)));

    // The definition whose operator 1 is the refusing wallet is rejected.
    let refused = fixture(Version::V1_11, Some(c.refusing), None, 22);
    let pending = verify_definition_deferred(&refused.lock.definition, &opts).unwrap();
    let err = rt.block_on(client.check(pending)).unwrap_err();
    let ContractCheckError::Rejected(v) = &err else {
        panic!("{err}");
    };
    assert_eq!(v.subject, Subject::Operator(1));
}
