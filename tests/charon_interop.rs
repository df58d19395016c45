//! Mixed clusters: our `dkg` nodes and real Go `charon dkg` nodes in one
//! ceremony, on loopback, each a separate process. Charon is built from the Go
//! module proxy on first use (see `tests/interop`).
//!
//! Every case asserts exit codes, byte-identical locks, `charon combine`
//! reconstructing every validator key from Rust and Go keystores together, and
//! our `verify --data-dir` accepting every node's directory, Go's included.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use charon_dkg_sidecar::cmd::localnet::{
    NodeOptions, NodeRun, Relay, start_charon_node, start_node, wait_all,
};
use charon_dkg_sidecar::lock::datadir::verify_data_dir;
use charon_dkg_sidecar::lock::enr::Enr;
use charon_dkg_sidecar::lock::keystore::load_keystores;
use charon_dkg_sidecar::lock::lockfile::Lock;
use charon_dkg_sidecar::lock::verify::VerifyOptions;

mod interop;

use interop::{
    Charon, EXE, PublicNet, charon, charon_create_enr, charon_node, charon_relay, run_ok,
    rust_relay, serial, wait_for_log,
};

const ADDR: &str = "0x000000000000000000000000000000000000dEaD";

/// Which implementation runs an operator's node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Impl {
    Rust,
    Go,
}
use Impl::{Go, Rust};

/// Who makes a piece of the set-up (keys, definition, relay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum By {
    Us,
    Charon,
}

struct Case {
    version: Charon,
    /// Implementations in ascending bytewise peer-ID order, so a case pins
    /// which side of the v1.11 "smaller ID dials" rule each implementation is on.
    by_peer_order: [Impl; 4],
    definition_by: By,
    relay_by: By,
    validators: usize,
    compounding: bool,
}

/// A prepared cluster: data directories, which implementation runs each operator.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    nodes_dir: PathBuf,
    nodes: Vec<PathBuf>,
    impls: Vec<Impl>,
    enrs: Vec<String>,
    definition: PathBuf,
}

fn peer_id_bytes(enr: &str) -> Vec<u8> {
    Enr::parse(enr).unwrap().peer_id_bytes()
}

fn setup(case: &Case) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let nodes_dir = root.join("nodes");
    let mut nodes = Vec::new();
    let mut enrs = Vec::new();
    for i in 0..4 {
        let d = nodes_dir.join(format!("node{i}"));
        let enr = match case.definition_by {
            // Each tool makes the keys of the definitions it makes, so both
            // key-file writers are read by both implementations.
            By::Charon => charon_create_enr(case.version, &d),
            By::Us => {
                let out = run_ok(
                    Command::new(EXE)
                        .args(["create", "enr", "--data-dir"])
                        .arg(&d),
                );
                out.split_whitespace()
                    .find(|w| w.starts_with("enr:"))
                    .unwrap()
                    .to_string()
            }
        };
        nodes.push(d);
        enrs.push(enr);
    }
    // Operator i gets the implementation of its rank in peer-ID order.
    let mut order: Vec<usize> = (0..4).collect();
    order.sort_by_key(|&i| peer_id_bytes(&enrs[i]));
    let mut impls = vec![Rust; 4];
    for (rank, &op) in order.iter().enumerate() {
        impls[op] = case.by_peer_order[rank];
    }
    let def_dir = root.join("definition");
    let enr_list = enrs.join(",");
    let validators = case.validators.to_string();
    let mut cmd = match case.definition_by {
        By::Charon => {
            let mut c = Command::new(charon(case.version));
            c.args(["create", "dkg", "--name", "mixed"]);
            c
        }
        By::Us => {
            let mut c = Command::new(EXE);
            c.args(["create", "dkg", "--name", "mixed", "--dkg-version"])
                .arg(case.version.definition_version());
            c
        }
    };
    cmd.args(["--operator-enrs", &enr_list])
        .args(["--num-validators", &validators])
        .args(["--threshold", "3"])
        .args(["--fee-recipient-addresses", ADDR])
        .args(["--withdrawal-addresses", ADDR])
        .args(["--network", "hoodi"])
        .arg("--output-dir")
        .arg(&def_dir);
    if case.compounding {
        cmd.arg("--compounding");
    }
    run_ok(&mut cmd);
    Setup {
        _dir: dir,
        root,
        nodes_dir,
        nodes,
        impls,
        enrs,
        definition: def_dir.join("cluster-definition.json"),
    }
}

fn relay(case: &Case, s: &Setup) -> Relay {
    match case.relay_by {
        By::Charon => charon_relay(case.version, &s.root.join("relay")),
        By::Us => rust_relay(&s.root.join("relay")),
    }
}

fn start(case: &Case, s: &Setup, relay: &Relay, which: &[usize], timeout: &str) -> Vec<NodeRun> {
    start_with(case, s, relay, which, timeout, &[])
}

/// [`start`], with `extra` flags for our nodes.
fn start_with(
    case: &Case,
    s: &Setup,
    relay: &Relay,
    which: &[usize],
    timeout: &str,
    extra: &[&str],
) -> Vec<NodeRun> {
    which
        .iter()
        .map(|&i| match s.impls[i] {
            Rust => {
                let opts = NodeOptions {
                    definition: s.definition.clone(),
                    relay_url: relay.url.clone(),
                    timeout: timeout.into(),
                    extra_args: ["--compat".to_string(), case.version.compat()]
                        .into_iter()
                        .chain(extra.iter().map(|a| a.to_string()))
                        .collect(),
                    env: Vec::new(),
                };
                start_node(Path::new(EXE), i, &s.nodes[i], &opts).unwrap()
            }
            Go => charon_node(case.version, i, &s.nodes[i], &s.definition, relay, timeout),
        })
        .collect()
}

fn describe(s: &Setup, nodes: &[NodeRun], relay_log: &Path) -> String {
    let mut out = String::new();
    for n in nodes {
        out += &format!(
            "\n===== node {} ({:?}) exit {:?}\n{}",
            n.index,
            s.impls[n.index],
            n.status,
            n.log_text()
        );
    }
    out += &format!(
        "\n===== relay\n{}",
        std::fs::read_to_string(relay_log).unwrap_or_default()
    );
    out
}

fn files_of(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("charon-enr-private-key"))
        .collect();
    v.sort();
    v
}

/// The node left its data directory as it found it (the ENR key only).
fn assert_wrote_nothing(n: &NodeRun) {
    let files = files_of(&n.data_dir);
    assert!(files.is_empty(), "node {} wrote {files:?}", n.index);
}

/// Waits up to `limit` for every node, asserts each exited 0 and that all
/// wrote the same lock, byte for byte; returns every log (for later
/// assertion messages) and that lock.
fn finish_with_one_lock(s: &Setup, nodes: &mut [NodeRun], limit: Duration) -> (String, Vec<u8>) {
    let waited = wait_all(nodes, limit);
    let why = describe(s, nodes, &s.root.join("relay/relay.log"));
    assert!(waited.is_ok(), "ceremony did not finish: {why}");
    for n in nodes.iter() {
        assert!(
            n.status.is_some_and(|st| st.success()),
            "node {} ({:?}) failed: {why}",
            n.index,
            s.impls[n.index]
        );
    }
    let first = std::fs::read(s.nodes[0].join("cluster-lock.json")).unwrap();
    for d in &s.nodes {
        assert_eq!(
            std::fs::read(d.join("cluster-lock.json")).unwrap(),
            first,
            "{} differs from node0's lock",
            d.display()
        );
    }
    (why, first)
}

/// Runs a whole mixed ceremony and checks everything the issue lists.
fn mixed(case: Case) {
    let _serial = serial();
    let s = setup(&case);
    let relay = relay(&case, &s);
    let mut nodes = start(&case, &s, &relay, &[0, 1, 2, 3], "60s");
    let (_, first) = finish_with_one_lock(&s, &mut nodes, Duration::from_secs(400));
    let lock = Lock::from_json(&first).unwrap();
    assert_eq!(lock.validators.len(), case.validators);
    assert_eq!(
        lock.definition.version.as_str(),
        case.version.definition_version()
    );
    // Our verify accepts every node's directory (lock, keystores, deposits).
    let opts = VerifyOptions {
        check_deposits: true,
        ..VerifyOptions::default()
    };
    for d in &s.nodes {
        let report = verify_data_dir(d, &opts);
        assert!(report.is_ok(), "{}: {:?}", d.display(), report.err());
        let files = files_of(d);
        assert!(files.contains(&"deposit-data.json".into()), "{files:?}");
    }
    // The same directory layout on both sides.
    let layout: Vec<Vec<String>> = s.nodes.iter().map(|d| files_of(d)).collect();
    assert!(
        layout.iter().all(|l| l == &layout[0]),
        "data directories differ: {layout:?}"
    );
    // charon combine over all four directories, Rust and Go keystores together,
    // reconstructs every validator key, and it matches the lock.
    let combined = s.root.join("combined");
    run_ok(
        Command::new(charon(case.version))
            .args(["combine", "--cluster-dir"])
            .arg(&s.nodes_dir)
            .arg("--output-dir")
            .arg(&combined),
    );
    let keys = load_keystores(&combined).unwrap();
    assert_eq!(keys.len(), case.validators);
    for (i, sk) in &keys {
        assert_eq!(
            sk.public_key().0.as_slice(),
            lock.validators[*i].pubkey.as_slice(),
            "combined key {i} does not match the lock"
        );
    }
}

// ---- v1.11 ----------------------------------------------------------------

#[test]
fn v1_11_two_rust_two_go_rust_smallest_and_largest() {
    mixed(Case {
        version: Charon::V1_11,
        by_peer_order: [Rust, Go, Go, Rust],
        definition_by: By::Us,
        relay_by: By::Charon,
        validators: 4,
        compounding: false,
    });
}

#[test]
fn v1_11_one_rust_smallest_three_go() {
    mixed(Case {
        version: Charon::V1_11,
        by_peer_order: [Rust, Go, Go, Go],
        definition_by: By::Charon,
        relay_by: By::Us,
        validators: 4,
        compounding: false,
    });
}

#[test]
fn v1_11_one_rust_largest_three_go_compounding() {
    mixed(Case {
        version: Charon::V1_11,
        by_peer_order: [Go, Go, Go, Rust],
        definition_by: By::Us,
        relay_by: By::Charon,
        validators: 4,
        compounding: true,
    });
}

#[test]
fn v1_11_three_rust_one_go_smallest() {
    mixed(Case {
        version: Charon::V1_11,
        by_peer_order: [Go, Rust, Rust, Rust],
        definition_by: By::Charon,
        relay_by: By::Charon,
        validators: 5,
        compounding: false,
    });
}

#[test]
fn v1_11_go_only_ceremony_is_accepted_by_our_verify() {
    mixed(Case {
        version: Charon::V1_11,
        by_peer_order: [Go, Go, Go, Go],
        definition_by: By::Charon,
        relay_by: By::Us,
        validators: 4,
        compounding: false,
    });
}

// ---- v1.10 ----------------------------------------------------------------

#[test]
fn v1_10_two_rust_two_go() {
    mixed(Case {
        version: Charon::V1_10,
        by_peer_order: [Go, Rust, Rust, Go],
        definition_by: By::Charon,
        relay_by: By::Charon,
        validators: 4,
        compounding: false,
    });
}

#[test]
fn v1_10_one_rust_three_go() {
    mixed(Case {
        version: Charon::V1_10,
        by_peer_order: [Go, Go, Rust, Go],
        definition_by: By::Us,
        relay_by: By::Us,
        validators: 4,
        compounding: false,
    });
}

#[test]
fn v1_10_three_rust_one_go() {
    mixed(Case {
        version: Charon::V1_10,
        by_peer_order: [Rust, Rust, Go, Rust],
        definition_by: By::Us,
        relay_by: By::Charon,
        validators: 4,
        compounding: false,
    });
}

#[test]
fn v1_10_go_only_ceremony_is_accepted_by_our_verify() {
    mixed(Case {
        version: Charon::V1_10,
        by_peer_order: [Go, Go, Go, Go],
        definition_by: By::Us,
        relay_by: By::Charon,
        validators: 4,
        compounding: false,
    });
}

// ---- faults across languages ---------------------------------------------

fn fault_case(version: Charon, by_peer_order: [Impl; 4]) -> Case {
    Case {
        version,
        by_peer_order,
        definition_by: By::Charon,
        relay_by: By::Charon,
        validators: 2,
        compounding: false,
    }
}

/// Kills operator `victim` once every node has passed step 1, and returns the
/// others after they have exited.
fn kill_after_step_1(case: &Case, s: &Setup, relay: &Relay, victim: usize) -> Vec<NodeRun> {
    let mut nodes = start(case, s, relay, &[0, 1, 2, 3], "10s");
    for n in &nodes {
        let marker = match s.impls[n.index] {
            Rust => "Step 2 of 8",
            // charon logs this as it enters step 1.
            Go => "All peers connected",
        };
        wait_for_log(n, marker, Duration::from_secs(120));
    }
    nodes[victim].kill();
    let rest = nodes.into_iter().filter(|n| n.index != victim).collect();
    wait_ours_then_go(s, rest)
}

/// Waits for our nodes to exit, then gives the Go nodes a minute more.
/// charon v1.11 waits without a bound in its connect phase and some exchanges
/// once a peer is gone, so a Go node may never exit by itself: it is stopped
/// then (and reported), and the callers check it wrote no lock.
fn wait_ours_then_go(s: &Setup, nodes: Vec<NodeRun>) -> Vec<NodeRun> {
    let (mut rust, mut go): (Vec<NodeRun>, Vec<NodeRun>) =
        nodes.into_iter().partition(|n| s.impls[n.index] == Rust);
    let waited = wait_all(&mut rust, Duration::from_secs(300));
    assert!(
        waited.is_ok(),
        "our nodes did not exit: {}",
        describe(s, &rust, &s.root.join("relay/relay.log"))
    );
    if wait_all(&mut go, Duration::from_secs(60)).is_err() {
        eprintln!("Go nodes still running 60 s after ours exited were stopped");
    }
    rust.extend(go);
    rust.sort_by_key(|n| n.index);
    rust
}

#[test]
fn a_go_node_killed_mid_ceremony_fails_every_rust_node_naming_it_and_nothing_is_written() {
    let _serial = serial();
    let case = fault_case(Charon::V1_11, [Rust, Go, Rust, Rust]);
    let s = setup(&case);
    let relay = relay(&case, &s);
    let victim = s.impls.iter().position(|&i| i == Go).unwrap();
    let rest = kill_after_step_1(&case, &s, &relay, victim);
    let why = describe(&s, &rest, &s.root.join("relay/relay.log"));
    for n in &rest {
        assert!(
            !n.status.unwrap().success(),
            "node {} succeeded: {why}",
            n.index
        );
        let log = n.log_text();
        let err = log
            .lines()
            .rev()
            .find(|l| l.contains("dkg failed"))
            .unwrap_or_default()
            .to_string();
        assert!(
            err.contains(&format!("operator {victim}")) || err.contains(&format!(" {victim} (")),
            "node {} does not name operator {victim}: {err}\n{why}",
            n.index
        );
        assert_wrote_nothing(n);
    }
}

#[test]
fn a_rust_node_killed_mid_ceremony_fails_the_go_nodes_and_the_other_rust_node_writes_nothing() {
    let _serial = serial();
    let case = fault_case(Charon::V1_11, [Go, Rust, Go, Rust]);
    let s = setup(&case);
    let relay = relay(&case, &s);
    let victim = s.impls.iter().position(|&i| i == Rust).unwrap();
    let rest = kill_after_step_1(&case, &s, &relay, victim);
    let why = describe(&s, &rest, &s.root.join("relay/relay.log"));
    for n in &rest {
        assert!(
            !n.status.unwrap().success(),
            "node {} succeeded: {why}",
            n.index
        );
        assert!(
            !n.data_dir.join("cluster-lock.json").exists(),
            "node {} wrote a lock: {why}",
            n.index
        );
        if s.impls[n.index] == Rust {
            assert_wrote_nothing(n);
        }
    }
}

#[test]
fn a_rust_node_with_another_definition_is_refused_at_sync_on_both_sides() {
    let _serial = serial();
    let case = fault_case(Charon::V1_11, [Go, Go, Rust, Go]);
    let s = setup(&case);
    let relay = relay(&case, &s);
    let rust = s.impls.iter().position(|&i| i == Rust).unwrap();
    // A genuine definition of the same operators under another name: valid
    // on its own, but with another definition hash than the Go nodes'.
    let other_dir = s.root.join("other");
    run_ok(
        Command::new(EXE)
            .args(["create", "dkg", "--name", "other", "--num-validators", "2"])
            .args(["--operator-enrs", &s.enrs.join(",")])
            .args([
                "--fee-recipient-addresses",
                ADDR,
                "--withdrawal-addresses",
                ADDR,
            ])
            .args(["--network", "hoodi", "--threshold", "3"])
            .arg("--output-dir")
            .arg(&other_dir),
    );
    let other = other_dir.join("cluster-definition.json");
    let go_ops: Vec<usize> = (0..4).filter(|&i| i != rust).collect();
    let mut nodes: Vec<NodeRun> = start(&case, &s, &relay, &go_ops, "15s");
    let opts = NodeOptions {
        definition: other,
        relay_url: relay.url.clone(),
        timeout: "15s".into(),
        extra_args: vec!["--compat".into(), case.version.compat()],
        env: Vec::new(),
    };
    nodes.push(start_node(Path::new(EXE), rust, &s.nodes[rust], &opts).unwrap());
    let nodes = wait_ours_then_go(&s, nodes);
    let why = describe(&s, &nodes, &s.root.join("relay/relay.log"));
    for n in &nodes {
        assert!(
            !n.status.is_some_and(|st| st.success()),
            "node {} succeeded: {why}",
            n.index
        );
        assert!(!n.data_dir.join("cluster-lock.json").exists(), "{why}");
    }
    let ours = nodes[rust].log_text();
    assert!(
        ours.contains("dkg failed") && ours.contains("invalid definition hash signature"),
        "our node does not say the definitions differ: {ours}"
    );
    let go_said = nodes
        .iter()
        .filter(|n| s.impls[n.index] == Go)
        .any(|n| n.log_text().contains("invalid definition hash"));
    assert!(go_said, "no Go node said why it refused us: {why}");
}

// ---- hole punching ----------------------------------------------------------

const LEFT_RELAY: &str = "Direct connection to peer: DKG traffic leaves the relay";

/// Operator indices named on `needle` lines of our node's log.
fn peers_logged(log: &str, needle: &str) -> std::collections::BTreeSet<usize> {
    log.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            l.split("peer_index=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Peers meet on `charon relay` (the definition's ENRs have no addresses),
/// in a network where Go nodes have public addresses, so that go-libp2p's
/// hole punching runs: on a circuit a Go node dialed to us we start DCUtR and
/// the Go node answers; on one we dialed, the Go node starts it and we
/// answer. Every pair ends up on a direct connection.
#[test]
fn v1_11_hole_punching_moves_mixed_pairs_off_the_relay() {
    let _serial = serial();
    let version = Charon::V1_11;
    // Built while the module proxy is still reachable.
    let charon_bin = charon(version);
    let case = Case {
        version,
        by_peer_order: [Go, Rust, Go, Rust],
        definition_by: By::Us,
        relay_by: By::Charon,
        validators: 4,
        compounding: false,
    };
    let s = setup(&case);
    let _net = PublicNet::enter(4);
    let relay = relay(&case, &s);
    let opts = NodeOptions {
        definition: s.definition.clone(),
        relay_url: relay.url.clone(),
        timeout: "60s".into(),
        extra_args: vec!["--compat".into(), version.compat()],
        env: Vec::new(),
    };
    let (go, rust): (Vec<usize>, Vec<usize>) = (0..4).partition(|&i| s.impls[i] == Go);
    // go-libp2p's hole punch service starts once it sees a public address of
    // its own (polling with backoff), and ignores circuits made before that;
    // start the Go nodes first so that every mixed circuit finds it running.
    let mut nodes: Vec<NodeRun> = go
        .iter()
        .map(|&i| {
            // Listening on a public address as well as loopback is what makes
            // the hole punch service start.
            let public = format!(
                "{}:{}",
                PublicNet::addr(i as u8 + 1),
                charon_dkg_sidecar::cmd::localnet::free_port().unwrap()
            );
            let go_opts = NodeOptions {
                extra_args: vec!["--p2p-tcp-address".into(), public],
                ..opts.clone()
            };
            start_charon_node(&charon_bin, i, &s.nodes[i], &go_opts, "debug").unwrap()
        })
        .collect();
    for n in &nodes {
        wait_for_log(n, "Relay circuit reserved", Duration::from_secs(60));
    }
    std::thread::sleep(Duration::from_secs(3));
    for &i in &rust {
        nodes.push(start_node(Path::new(EXE), i, &s.nodes[i], &opts).unwrap());
    }
    nodes.sort_by_key(|n| n.index);
    let (why, _) = finish_with_one_lock(&s, &mut nodes, Duration::from_secs(400));
    let hole_punch_lines = |n: &NodeRun| -> Vec<String> {
        n.log_text()
            .lines()
            .filter(|l| l.contains("ole punch") || l.contains(LEFT_RELAY))
            .map(str::to_string)
            .collect()
    };
    for n in nodes.iter().filter(|n| s.impls[n.index] == Rust) {
        let left = peers_logged(&n.log_text(), LEFT_RELAY);
        let others: std::collections::BTreeSet<usize> = (0..4).filter(|&i| i != n.index).collect();
        assert_eq!(
            left,
            others,
            "node {} did not leave the relay for every peer: {:#?}\n{why}",
            n.index,
            hole_punch_lines(n)
        );
    }
    // DCUtR itself ran between every Rust and Go pair, whichever side started
    // it: the side that dialed the direct connection reports the success.
    let names = go_peer_names(&nodes[go[0]].log_text());
    for &r in &rust {
        let ours = peers_logged(&nodes[r].log_text(), "Hole punch succeeded");
        for &g in &go {
            let theirs = go_hole_punched(&nodes[g].log_text(), &names);
            assert!(
                ours.contains(&g) || theirs.contains(&r),
                "no hole punch between Rust node {r} and Go node {g}: ours {:#?}\n{why}",
                hole_punch_lines(&nodes[r])
            );
        }
    }
}

/// Charon's name for each operator index, from its "Peer summary" lines.
fn go_peer_names(log: &str) -> std::collections::HashMap<String, usize> {
    log.lines()
        .filter(|l| l.contains("Peer summary"))
        .filter_map(|l| {
            let name = l.split("\"peer\": \"").nth(1)?.split('"').next()?;
            let index = l.split("\"index\": ").nth(1)?;
            let index = index
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), index))
        })
        .collect()
}

/// Operator indices a Go node reports a successful hole punch with.
fn go_hole_punched(
    log: &str,
    names: &std::collections::HashMap<String, usize>,
) -> std::collections::BTreeSet<usize> {
    log.lines()
        .filter(|l| l.contains("Hole punch succeeded"))
        .filter_map(|l| names.get(l.split("\"peer\": \"").nth(1)?.split('"').next()?))
        .copied()
        .collect()
}

/// Item 3 of the v1.11 gap list: charon uses every address of a relay. Here
/// `charon relay` advertises an external address nothing answers on ahead of
/// its real one; our nodes must reserve and build circuits through the
/// second, or the ceremony never starts.
#[test]
fn v1_11_a_relay_whose_first_address_is_dead_is_used_through_the_next() {
    let _serial = serial();
    let version = Charon::V1_11;
    let charon_bin = charon(version);
    let case = Case {
        version,
        by_peer_order: [Rust, Rust, Rust, Rust],
        definition_by: By::Us,
        relay_by: By::Charon,
        validators: 2,
        compounding: false,
    };
    let s = setup(&case);
    // A namespace, so that the dead address fails at once and nothing
    // outside is ever dialed.
    let _net = PublicNet::enter(1);
    let relay = Relay::start_charon_with(
        &charon_bin,
        &s.root.join("relay"),
        &["--p2p-external-ip", "1.0.0.99"],
    )
    .unwrap();
    let advertised = http_get(&relay.url);
    let first = advertised.find("1.0.0.99");
    let real = advertised.find("127.0.0.1");
    assert!(
        first.is_some() && real.is_some() && first < real,
        "the relay should list the dead address first: {advertised}"
    );
    let mut nodes = start(&case, &s, &relay, &[0, 1, 2, 3], "60s");
    finish_with_one_lock(&s, &mut nodes, Duration::from_secs(300));
}

/// The body of a plain HTTP GET (the relay's address list).
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(conn, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    text.split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// charon's relay states its 32 MiB circuit limit in every reservation; a
/// relay-only ceremony that cannot fit (30,000 validators need about 69 MiB
/// per circuit direction) is refused by each of our nodes within seconds,
/// naming the limit and the ways out, with nothing written.
#[test]
fn v1_11_a_relay_only_ceremony_too_large_for_charons_relay_is_refused_at_once() {
    let _serial = serial();
    let case = Case {
        version: Charon::V1_11,
        by_peer_order: [Rust, Rust, Rust, Rust],
        definition_by: By::Us,
        relay_by: By::Charon,
        validators: 30_000,
        compounding: false,
    };
    let s = setup(&case);
    let relay = relay(&case, &s);
    let mut nodes = start_with(
        &case,
        &s,
        &relay,
        &[0, 1, 2, 3],
        "10m",
        &["--p2p-relay-only"],
    );
    let waited = wait_all(&mut nodes, Duration::from_secs(120));
    let all = describe(&s, &nodes, &s.root.join("relay/relay.log"));
    assert!(waited.is_ok(), "nodes did not stop on their own: {all}");
    for n in &nodes {
        assert!(
            n.status.is_some_and(|st| !st.success()),
            "node {} did not refuse: {all}",
            n.index
        );
        let log = n.log_text();
        for part in [
            "relay-only ceremony needs about",
            "resets circuits after 32 MiB",
            "drop --p2p-relay-only",
            "ceremonies of at most",
        ] {
            assert!(
                log.contains(part),
                "node {}: no {part:?} in\n{log}",
                n.index
            );
        }
        assert_wrote_nothing(n);
    }
}
