//! The relay server's HTTP endpoint and the `relay` subcommand, checked with
//! the same parsing a charon node applies to the answers.

use std::process::{Command, Stdio};
use std::time::Duration;

use charon_dkg_sidecar::p2p::identity::{EnrPrivateKey, KEY_FILE_NAME};
use charon_dkg_sidecar::p2p::relay::{RelayServer, RelayServerConfig};
use charon_dkg_sidecar::p2p::relay_enr::{parse_enr, relay_multiaddrs_from_enr};
use charon_dkg_sidecar::p2p::relay_http::{
    ClusterHeaders, parse_relay_body, query_relay_addrs, single_relay_peer,
};
use libp2p::multiaddr::Protocol;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    charon_dkg_sidecar::cmd::localnet::free_port().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_answers_what_charon_nodes_parse() {
    timeout(LIMIT, async {
        let key = EnrPrivateKey::generate();
        let mut cfg = RelayServerConfig::new(key.clone(), vec!["127.0.0.1:0".parse().unwrap()]);
        cfg.http_addr = Some("127.0.0.1:0".parse().unwrap());
        cfg.advertise_private = true;
        let relay = RelayServer::start(cfg).await.unwrap();
        let base = format!("http://{}", relay.http_addr().unwrap());
        let tcp_port = match relay.listen_addrs()[0].iter().nth(1) {
            Some(Protocol::Tcp(p)) => p,
            other => panic!("unexpected listen addr component {other:?}"),
        };
        let headers = ClusterHeaders {
            definition_hash_hex: "00".repeat(32),
            uuid: "uuid".into(),
        };
        let client = reqwest::Client::new();

        // `/`: a JSON array of multiaddrs ending in /p2p/<relay>.
        let body = client
            .get(&base)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let list: Vec<String> = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            list,
            vec![format!(
                "/ip4/127.0.0.1/tcp/{tcp_port}/p2p/{}",
                relay.peer_id()
            )]
        );
        let addrs = parse_relay_body(&body).unwrap();
        assert_eq!(single_relay_peer(&addrs).unwrap(), relay.peer_id());
        let via_client = query_relay_addrs(&client, &base, &headers).await.unwrap();
        assert_eq!(via_client, addrs);
        // charon's `/` is a catch-all: any other path or method gets the list too.
        for req in [client.get(format!("{base}/some/path")), client.post(&base)] {
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success());
            assert_eq!(resp.bytes().await.unwrap(), body);
        }

        // `/enr`: a signed ENR of the relay key with its TCP port.
        let enr = client
            .get(format!("{base}/enr"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rec = parse_enr(&enr).unwrap();
        assert_eq!(rec.pubkey, key.public_key_compressed());
        assert_eq!(rec.tcp, Some(tcp_port));
        let addrs = relay_multiaddrs_from_enr(&enr).unwrap();
        assert_eq!(single_relay_peer(&addrs).unwrap(), relay.peer_id());
        assert!(
            addrs.iter().any(|a| a.to_string()
                == format!("/ip4/127.0.0.1/tcp/{tcp_port}/p2p/{}", relay.peer_id()))
        );

        relay.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_hidden_by_default_and_external_ip_is_served() {
    timeout(LIMIT, async {
        let mut cfg = RelayServerConfig::new(
            EnrPrivateKey::generate(),
            vec!["127.0.0.1:0".parse().unwrap()],
        );
        cfg.http_addr = Some("127.0.0.1:0".parse().unwrap());
        cfg.external_ip = Some("203.0.113.7".parse().unwrap());
        let relay = RelayServer::start(cfg).await.unwrap();
        let adv: Vec<String> = relay
            .advertised_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(adv.len(), 1, "{adv:?}");
        assert!(adv[0].starts_with("/ip4/203.0.113.7/tcp/"));
        let base = format!("http://{}", relay.http_addr().unwrap());
        let enr = reqwest::get(format!("{base}/enr"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            parse_enr(&enr).unwrap().ip,
            Some("203.0.113.7".parse().unwrap())
        );
        relay.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[test]
fn relay_subcommand_starts_serves_and_creates_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let (http, tcp) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_charon-dkg-sidecar"))
        .args([
            "relay",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--http-address",
            &format!("127.0.0.1:{http}"),
            "--p2p-tcp-address",
            &format!("127.0.0.1:{tcp}"),
            "--p2p-advertise-private-addresses",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        timeout(LIMIT, async {
            loop {
                if let Ok(resp) = reqwest::get(format!("http://127.0.0.1:{http}/")).await
                    && resp.status().is_success()
                {
                    return resp.bytes().await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
    });
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let body = result.unwrap_or_else(|_| panic!("relay did not serve in time; logs:\n{logs}"));

    let key = EnrPrivateKey::load(dir.path()).unwrap();
    let addrs = parse_relay_body(&body).unwrap();
    assert_eq!(single_relay_peer(&addrs).unwrap(), key.peer_id().unwrap());
    assert_eq!(
        addrs[0].to_string(),
        format!("/ip4/127.0.0.1/tcp/{tcp}/p2p/{}", key.peer_id().unwrap())
    );
    assert!(logs.contains("Relay started"), "{logs}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn relay_subcommand_refuses_missing_key_without_auto_p2pkey() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_charon-dkg-sidecar"))
        .args([
            "relay",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--auto-p2pkey=false",
            "--p2p-tcp-address",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("charon-enr-private-key not found"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_charon-dkg-sidecar"))
        .args([
            "relay",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--http-address",
            "",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TCP address required"));
}
