//! Full ceremonies on loopback: a relay and four `dkg` nodes, each a separate
//! process of the real binary with its own data directory, as operators run them.

use std::path::Path;
use std::time::Duration;

use charon_dkg_sidecar::cmd::localnet::{NodeOptions, NodeRun, Relay, start_node, wait_all};
use charon_dkg_sidecar::frost::bls::{self, PublicKey};
use charon_dkg_sidecar::lock::datadir::verify_data_dir;
use charon_dkg_sidecar::lock::keystore::load_keystores;
use charon_dkg_sidecar::lock::lockfile::Lock;
use charon_dkg_sidecar::lock::verify::VerifyOptions;

mod common;

use common::{Cluster, cluster};

const EXE: &str = env!("CARGO_BIN_EXE_charon-dkg-sidecar");

fn run_nodes(
    c: &Cluster,
    relay: &Relay,
    which: &[usize],
    timeout: &str,
    extra: &[&str],
) -> Vec<NodeRun> {
    let opts = NodeOptions {
        definition: c.definition.clone(),
        relay_url: relay.url.clone(),
        timeout: timeout.into(),
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
    };
    which
        .iter()
        .map(|&i| start_node(Path::new(EXE), i, &c.nodes[i], &opts).unwrap())
        .collect()
}

/// Waits for every node (at most 300 s) and asserts each exited 0.
fn finish_all_ok(nodes: &mut [NodeRun]) {
    let waited = wait_all(nodes, Duration::from_secs(300));
    for n in nodes.iter() {
        assert!(
            waited.is_ok() && n.status.is_some_and(|s| s.success()),
            "node {} failed: {:?}\n{}",
            n.index,
            n.status,
            n.log_text()
        );
    }
}

/// A WARN or ERROR line of the console log format.
fn is_warning(line: &str) -> bool {
    line.contains(" WARN ") || line.contains(" ERROR ")
}

fn outputs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "charon-enr-private-key" && n != "charon-enr-private-key.lock")
        .collect();
    v.sort();
    v
}

fn full_ceremony(version: &str, amounts: &[u64], compat: &[&str]) {
    let c = cluster(4, 3, version, amounts);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2, 3], "60s", compat);
    finish_all_ok(&mut nodes);
    // A healthy ceremony logs no WARN or ERROR on any node or the relay.
    let relay_log = std::fs::read_to_string(c.root.join("relay").join("relay.log")).unwrap();
    for (who, log) in nodes
        .iter()
        .map(|n| (format!("node {}", n.index), n.log_text()))
        .chain([("relay".to_string(), relay_log)])
    {
        let bad: Vec<&str> = log.lines().filter(|l| is_warning(l)).collect();
        assert!(bad.is_empty(), "{who} warned in a healthy run: {bad:#?}");
    }
    // Byte-identical locks that verify, with deposit files per amount.
    let first = std::fs::read(c.nodes[0].join("cluster-lock.json")).unwrap();
    for d in &c.nodes {
        assert_eq!(std::fs::read(d.join("cluster-lock.json")).unwrap(), first);
        let report = verify_data_dir(d, &VerifyOptions::default());
        assert!(report.is_ok(), "{}: {:?}", d.display(), report.err());
        let files = outputs(d);
        assert!(
            files.contains(&"deposit-data.json".to_string()),
            "{files:?}"
        );
        if amounts.is_empty() || amounts.contains(&1) {
            assert!(
                files.contains(&"deposit-data-1eth.json".to_string()),
                "{files:?}"
            );
        }
        assert!(
            !files.iter().any(|f| f.starts_with(".dkg-staging")),
            "{files:?}"
        );
    }
    let lock = Lock::from_json(&first).unwrap();
    assert_eq!(lock.definition.version.as_str(), version);
    assert_eq!(lock.validators.len(), 3);
    // Keystores decrypt to each node's public share; any 3 nodes' shares
    // reconstruct each validator key, 2 do not.
    let keys: Vec<Vec<(usize, bls::SecretKey)>> = c
        .nodes
        .iter()
        .map(|d| load_keystores(&d.join("validator_keys")).unwrap())
        .collect();
    for (v, dv) in lock.validators.iter().enumerate() {
        for (i, node_keys) in keys.iter().enumerate() {
            let (idx, sk) = &node_keys[v];
            assert_eq!(*idx, v);
            assert_eq!(sk.public_key().0.as_slice(), dv.public_shares[i].as_slice());
        }
        let pk = |i: usize| PublicKey(keys[i][v].1.public_key().0);
        let msg = b"reconstruct";
        for subset in [[0usize, 1, 2], [1, 2, 3], [0, 2, 3]] {
            let partials: Vec<(u64, bls::Signature)> = subset
                .iter()
                .map(|&i| (i as u64 + 1, keys[i][v].1.sign(msg)))
                .collect();
            let sig = bls::threshold_combine(&partials).unwrap();
            let group = PublicKey(dv.pubkey.as_slice().try_into().unwrap());
            bls::verify(&group, msg, &sig).unwrap();
            let _ = pk(subset[0]);
        }
        let two: Vec<(u64, bls::Signature)> = [0usize, 1]
            .iter()
            .map(|&i| (i as u64 + 1, keys[i][v].1.sign(msg)))
            .collect();
        let sig = bls::threshold_combine(&two).unwrap();
        let group = PublicKey(dv.pubkey.as_slice().try_into().unwrap());
        assert!(bls::verify(&group, msg, &sig).is_err());
    }
}

#[test]
fn four_nodes_v1_11_with_partial_deposits() {
    full_ceremony("v1.11.0", &[1, 32], &[]);
}

#[test]
fn four_nodes_v1_10_in_compat_mode() {
    full_ceremony("v1.10.0", &[], &["--compat", "v1.10"]);
}

#[test]
fn a_missing_node_fails_the_others_cleanly_and_nothing_is_written() {
    let c = cluster(4, 2, "v1.11.0", &[]);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    // Operator 2 starts late, so operators 0 and 1 give up first and leave
    // while it still waits: it must still blame operator 3 first.
    let mut nodes = run_nodes(&c, &relay, &[0, 1], "8s", &[]);
    std::thread::sleep(Duration::from_secs(3));
    nodes.extend(run_nodes(&c, &relay, &[2], "8s", &[]));
    wait_all(&mut nodes, Duration::from_secs(120)).unwrap();
    for n in &nodes {
        assert!(!n.status.unwrap().success(), "node {} succeeded", n.index);
        let log = n.log_text();
        let missing = log
            .lines()
            .find(|l| l.contains("dkg failed"))
            .and_then(|l| l.split_once("missing operator(s) "))
            .map(|(_, list)| list.to_string())
            .unwrap_or_default();
        assert!(missing.starts_with("3 ("), "node {}: {log}", n.index);
        // Peers never seen come first; any that connected and then left
        // (operators 0 and 1 give up before operator 2 does) follow, marked.
        let marked: Vec<bool> = missing
            .split(", ")
            .map(|m| m.ends_with("[left after connecting]"))
            .collect();
        assert!(
            marked.windows(2).all(|w| !w[0] || w[1]),
            "node {}: {log}",
            n.index
        );
        assert!(
            outputs(&c.nodes[n.index]).is_empty(),
            "{:?}",
            outputs(&c.nodes[n.index])
        );
    }
}

#[test]
fn a_killed_node_fails_the_others_and_nothing_is_written() {
    let c = cluster(4, 2, "v1.11.0", &[]);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2, 3], "8s", &[]);
    // Kill operator 3 once the ceremony has started (step 1 reached).
    let start = std::time::Instant::now();
    while !nodes[3].log_text().contains("Step 1 of 8") {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{}",
            nodes[3].log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nodes[3].kill();
    let mut rest: Vec<NodeRun> = nodes.drain(..3).collect();
    wait_all(&mut rest, Duration::from_secs(180)).unwrap();
    for n in &rest {
        let log = n.log_text();
        // The quiet logs of a healthy run are not bought by silencing
        // everything: a peer killed mid-ceremony is reported loudly.
        assert!(
            log.lines().any(is_warning),
            "node {}: no WARN/ERROR after operator 3 was killed:\n{log}",
            n.index
        );
        if n.status.unwrap().success() {
            // The kill came too late to matter: the ceremony completed.
            assert!(outputs(&c.nodes[n.index]).contains(&"cluster-lock.json".to_string()));
            continue;
        }
        // The error names operator 3 (others may be named too: they could not
        // complete a broadcast that needs operator 3's co-signature).
        let err = log
            .lines()
            .find(|l| l.contains("dkg failed"))
            .unwrap_or_default();
        assert!(
            err.contains(" 3 (") || err.contains("operator 3"),
            "node {}: {log}",
            n.index
        );
        assert!(
            outputs(&c.nodes[n.index]).is_empty(),
            "{:?}",
            outputs(&c.nodes[n.index])
        );
    }
}

#[test]
fn a_node_with_another_definition_is_refused_at_sync() {
    let c = cluster(4, 1, "v1.11.0", &[]);
    // Operator 3 gets the same operators but another name: another definition hash.
    let mut other = std::fs::read_to_string(&c.definition).unwrap();
    other = other.replace("\"name\": \"test\"", "\"name\": \"evil\"");
    let def: charon_dkg_sidecar::lock::definition::Definition =
        charon_dkg_sidecar::lock::definition::Definition::from_json(other.as_bytes()).unwrap();
    let other_path = c.root.join("other-definition.json");
    std::fs::write(&other_path, def.with_hashes().unwrap().to_json().unwrap()).unwrap();
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2], "10s", &[]);
    let opts = NodeOptions {
        definition: other_path,
        relay_url: relay.url.clone(),
        timeout: "10s".into(),
        extra_args: vec![],
        env: Vec::new(),
    };
    nodes.push(start_node(Path::new(EXE), 3, &c.nodes[3], &opts).unwrap());
    wait_all(&mut nodes, Duration::from_secs(120)).unwrap();
    for n in &nodes {
        assert!(!n.status.unwrap().success(), "node {} succeeded", n.index);
        assert!(outputs(&c.nodes[n.index]).is_empty());
    }
    let all: String = nodes.iter().map(|n| n.log_text()).collect();
    assert!(
        all.contains("definition hash signature") || all.contains("invalid definition"),
        "{all}"
    );
}

#[test]
fn a_peer_sending_an_invalid_frost_share_is_named_by_every_honest_node() {
    let c = cluster(4, 2, "v1.11.0", &[]);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2], "10s", &[]);
    let opts = NodeOptions {
        definition: c.definition.clone(),
        relay_url: relay.url.clone(),
        timeout: "10s".into(),
        extra_args: vec![],
        env: vec![("CHARON_DKG_TEST_FAULT".into(), "invalid-frost-share".into())],
    };
    nodes.push(start_node(Path::new(EXE), 3, &c.nodes[3], &opts).unwrap());
    wait_all(&mut nodes, Duration::from_secs(120)).unwrap();
    for n in &nodes {
        assert!(!n.status.unwrap().success(), "node {} succeeded", n.index);
        assert!(outputs(&c.nodes[n.index]).is_empty());
        if n.index == 3 {
            continue;
        }
        let log = n.log_text();
        let err = log
            .lines()
            .find(|l| l.contains("dkg failed"))
            .unwrap_or_default();
        assert!(
            err.contains("operator 3 sent an invalid FROST contribution")
                && err.contains("validator 0"),
            "node {}: {log}",
            n.index
        );
    }
}

/// A peer that is alive but slow (here it spends longer than `--timeout`
/// before step 7, as a charon peer encrypting thousands of keystores does) is
/// waited for, as charon waits: only a silent peer ends the ceremony.
#[test]
fn a_slow_but_live_peer_is_waited_for_beyond_the_timeout() {
    let c = cluster(4, 1, "v1.11.0", &[]);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2], "8s", &[]);
    let opts = NodeOptions {
        definition: c.definition.clone(),
        relay_url: relay.url.clone(),
        timeout: "8s".into(),
        extra_args: vec![],
        env: vec![("CHARON_DKG_TEST_FAULT".into(), "slow-before-step-7".into())],
    };
    nodes.push(start_node(Path::new(EXE), 3, &c.nodes[3], &opts).unwrap());
    wait_all(&mut nodes, Duration::from_secs(180)).unwrap();
    let mut locks = Vec::new();
    for n in &nodes {
        assert!(
            n.status.unwrap().success(),
            "node {}: {}",
            n.index,
            n.log_text()
        );
        locks.push(std::fs::read(c.nodes[n.index].join("cluster-lock.json")).unwrap());
    }
    assert!(locks.windows(2).all(|w| w[0] == w[1]));
    // The honest nodes did wait longer than their timeout at step 7.
    let waited: f64 = nodes[0]
        .log_text()
        .lines()
        .find(|l| l.contains("Step 7 of 8"))
        .and_then(|l| l.split("waited_s=").nth(1))
        .and_then(|v| {
            v.trim_matches('"')
                .split_whitespace()
                .next()?
                .trim_matches('"')
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    assert!(waited > 8.0, "{}", nodes[0].log_text());
}

#[test]
fn zipped_leaves_only_charons_archive_holding_a_complete_data_directory() {
    let c = cluster(4, 2, "v1.11.0", &[]);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[1, 2, 3], "60s", &[]);
    nodes.extend(run_nodes(&c, &relay, &[0], "60s", &["--zipped"]));
    wait_all(&mut nodes, Duration::from_secs(300)).unwrap();
    for n in &nodes {
        assert!(n.status.unwrap().success(), "{}", n.log_text());
    }
    // Like charon: only dkg.tar.gz is left, ENR key included in it.
    let left: Vec<String> = std::fs::read_dir(&c.nodes[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["dkg.tar.gz"], "{}", nodes[3].log_text());
    let out = c.root.join("unzipped");
    std::fs::create_dir_all(&out).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(c.nodes[0].join("dkg.tar.gz"))
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(out.join("charon-enr-private-key").exists());
    assert_eq!(
        std::fs::read(out.join("cluster-lock.json")).unwrap(),
        std::fs::read(c.nodes[1].join("cluster-lock.json")).unwrap()
    );
    let report = verify_data_dir(&out, &VerifyOptions::default());
    assert!(report.is_ok(), "{:?}", report.err());
}

#[test]
fn charons_log_flags_are_accepted_with_charons_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dkg.log");
    // No ENR key in the data directory: the command fails at once, and says so
    // in the log file as well as on stderr, without colour codes.
    let out = std::process::Command::new(EXE)
        .args(["dkg", "--log-color", "disable", "--p2p-disable-reuseport"])
        .arg("--log-output-path")
        .arg(&log)
        .arg("--data-dir")
        .arg(dir.path().join("empty"))
        .arg("--definition-file")
        .arg(dir.path().join("none.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DKG failed"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bad = std::process::Command::new(EXE)
        .args(["dkg", "--log-color", "rainbow"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// SIGTERM to one `dkg` process once its log shows `marker`; returns every
/// node after all have exited.
fn sigterm_at(marker: &str) -> (Cluster, Vec<NodeRun>) {
    let c = cluster(4, 2, "v1.11.0", &[]);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2, 3], "20s", &[]);
    let start = std::time::Instant::now();
    while !nodes[0].log_text().contains(marker) {
        assert!(
            start.elapsed() < Duration::from_secs(120) && nodes[0].pid().is_some(),
            "{}",
            nodes[0].log_text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = nodes[0].pid().unwrap().to_string();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    wait_all(&mut nodes, Duration::from_secs(300)).unwrap();
    drop(relay);
    (c, nodes)
}

#[test]
fn sigterm_before_step_7_leaves_nothing_and_after_it_the_outputs_are_finished_and_kept() {
    for (marker, finishes) in [
        ("Step 2 of 8", false),
        ("Step 5 of 8", false),
        ("Step 7 of 8", true),
        ("Step 8 of 8", true),
    ] {
        let (c, nodes) = sigterm_at(marker);
        let signalled = &nodes[0];
        if finishes {
            // Peers may already have written their keys: this node must too.
            assert!(
                signalled.status.unwrap().success(),
                "{marker}: {}",
                signalled.log_text()
            );
            let lock = std::fs::read(c.nodes[0].join("cluster-lock.json")).unwrap();
            for d in &c.nodes {
                assert_eq!(std::fs::read(d.join("cluster-lock.json")).unwrap(), lock);
                let report = verify_data_dir(d, &VerifyOptions::default());
                assert!(report.is_ok(), "{marker}: {:?}", report.err());
            }
        } else {
            assert!(!signalled.status.unwrap().success(), "{marker}");
            for (n, d) in nodes.iter().zip(&c.nodes) {
                assert!(
                    outputs(d).is_empty(),
                    "{marker}: node {} wrote {:?}",
                    n.index,
                    outputs(d)
                );
            }
        }
    }
}

/// Runs a 4-node ceremony on our relay with `extra` flags and returns the
/// nodes after checking that every one succeeded.
fn ceremony_on_relay(validators: usize, extra: &[&str]) -> (Cluster, Relay, Vec<NodeRun>) {
    let c = cluster(4, validators, "v1.10.0", &[]);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2, 3], "60s", extra);
    finish_all_ok(&mut nodes);
    (c, relay, nodes)
}

const LEFT_RELAY: &str = "Direct connection to peer: DKG traffic leaves the relay";

/// The definition's ENRs carry no addresses, as charon's do, so the nodes
/// first meet on the relay; then each learns the others' listen addresses
/// through identify, dials them, and the bulk of the DKG avoids the relay.
#[test]
fn nodes_that_meet_on_the_relay_move_their_traffic_to_direct_connections() {
    let (_c, relay, nodes) = ceremony_on_relay(10, &[]);
    for n in &nodes {
        let log = n.log_text();
        let peers: std::collections::BTreeSet<&str> = log
            .lines()
            .filter(|l| l.contains(LEFT_RELAY))
            .filter_map(|l| l.split("peer_index=").nth(1)?.split_whitespace().next())
            .collect();
        assert_eq!(peers.len(), 3, "node {}: {peers:?}\n{log}", n.index);
        let ((rs, rr), (ds, dr)) = n.tcp_bytes_split(&relay.ports());
        eprintln!(
            "node {}: {} bytes via the relay, {} direct",
            n.index,
            rs + rr,
            ds + dr
        );
        assert!(
            ds + dr > 0,
            "node {}: no TCP bytes sampled (is `ss` from iproute2 installed?)",
            n.index
        );
        assert!(
            ds + dr > 8 * (rs + rr),
            "node {}: {} bytes went through the relay, only {} directly",
            n.index,
            rs + rr,
            ds + dr
        );
    }
}

#[test]
fn relay_only_nodes_never_dial_each_other_and_still_finish() {
    let (_c, relay, nodes) = ceremony_on_relay(4, &["--p2p-relay-only"]);
    for n in &nodes {
        let log = n.log_text();
        assert!(!log.contains(LEFT_RELAY), "node {}:\n{log}", n.index);
        let ((rs, rr), (ds, dr)) = n.tcp_bytes_split(&relay.ports());
        assert!(
            rs + rr > 0,
            "node {}: nothing sampled through the relay (is `ss` from iproute2 installed?)",
            n.index
        );
        assert_eq!(ds + dr, 0, "node {} had direct sockets", n.index);
    }
}

/// A relay-only ceremony too large for the relay's circuits (ours allow
/// 64 MiB) is refused once the reservation states the limit: each node says
/// why and what to do, long before its 10-minute timeout, with nothing written.
#[test]
fn a_relay_only_ceremony_too_large_for_the_relays_circuits_is_refused_at_once() {
    let c = cluster(4, 30_000, "v1.10.0", &[]);
    let relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2, 3], "10m", &["--p2p-relay-only"]);
    let waited = wait_all(&mut nodes, Duration::from_secs(180));
    for n in &nodes {
        let log = n.log_text();
        assert!(
            waited.is_ok() && n.status.is_some_and(|s| !s.success()),
            "node {} did not refuse the ceremony on its own: {:?}\n{log}",
            n.index,
            n.status
        );
        for part in [
            "relay-only ceremony needs about",
            "resets circuits after 64 MiB",
            "drop --p2p-relay-only",
        ] {
            assert!(
                log.contains(part),
                "node {}: no {part:?} in\n{log}",
                n.index
            );
        }
        assert!(
            outputs(&c.nodes[n.index]).is_empty(),
            "node {} wrote {:?}",
            n.index,
            outputs(&c.nodes[n.index])
        );
    }
}

/// Waits until every node's log shows `marker`.
fn wait_all_logged(nodes: &[NodeRun], marker: &str) {
    let start = std::time::Instant::now();
    for n in nodes {
        while !n.log_text().contains(marker) {
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "node {} never logged {marker:?}:\n{}",
                n.index,
                n.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The relay dies mid-ceremony, after the nodes connected directly: every
/// circuit is reset, and the ceremony finishes over the direct connections.
#[test]
fn the_relay_dying_mid_ceremony_does_not_stop_nodes_that_connected_directly() {
    let c = cluster(4, 10, "v1.10.0", &[]);
    let mut relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2, 3], "30s", &[]);
    wait_all_logged(&nodes, "Step 2 of 8");
    for n in &nodes {
        let left = n.log_text().matches(LEFT_RELAY).count();
        assert_eq!(
            left, 3,
            "node {} is not directly connected to every peer",
            n.index
        );
    }
    relay.kill();
    finish_all_ok(&mut nodes);
    for n in &nodes {
        assert!(
            n.log_text().contains("Disconnected from relay"),
            "node {}",
            n.index
        );
    }
    let first = std::fs::read(c.nodes[0].join("cluster-lock.json")).unwrap();
    for d in &c.nodes {
        assert_eq!(std::fs::read(d.join("cluster-lock.json")).unwrap(), first);
        let report = verify_data_dir(d, &VerifyOptions::default());
        assert!(report.is_ok(), "{}: {:?}", d.display(), report.err());
    }
}

/// The same with `--p2p-relay-only`: the nodes have no other path, so each
/// fails within its timeout naming the operators it lost, and writes nothing.
#[test]
fn the_relay_dying_mid_ceremony_fails_relay_only_nodes_cleanly() {
    let c = cluster(4, 10, "v1.10.0", &[]);
    let mut relay = Relay::start(Path::new(EXE), &c.root.join("relay")).unwrap();
    let mut nodes = run_nodes(&c, &relay, &[0, 1, 2, 3], "10s", &["--p2p-relay-only"]);
    wait_all_logged(&nodes, "Step 2 of 8");
    relay.kill();
    wait_all(&mut nodes, Duration::from_secs(300)).unwrap();
    for n in &nodes {
        let log = n.log_text();
        assert!(
            n.status.is_some_and(|s| !s.success()),
            "node {} succeeded without a relay:\n{log}",
            n.index
        );
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains(" ERROR "))
            .unwrap_or("");
        eprintln!("node {}: {last}", n.index);
        assert!(
            last.contains("operator"),
            "node {}: the error does not name the operators lost: {last}\n{log}",
            n.index
        );
        assert!(
            last.contains("check that the relays in --p2p-relays are up"),
            "node {}: the error does not point at the relay: {last}",
            n.index
        );
        assert_eq!(
            outputs(&n.data_dir),
            Vec::<String>::new(),
            "node {} wrote outputs",
            n.index
        );
    }
}
