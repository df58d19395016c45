//! `charon-dkg-sidecar run` as a process: configuration errors are one line and
//! exit 2 before any traffic; an existing lock exits 0 without contacting the API.

use std::process::Command;

use charon_dkg_sidecar::sidecar::fake_api::{FakeApi, FakeApiOptions};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_charon-dkg-sidecar"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

#[tokio::test]
async fn bad_configuration_is_one_line_and_no_traffic() {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good_op = "0x3D1f0598943239806A251899016EAf4920d4726d";
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("OPERATOR_ADDRESS", vec![]),
        (
            "OPERATOR_ADDRESS",
            vec![("OPERATOR_ADDRESS", "null".into())],
        ),
        (
            "OPERATOR_ADDRESS",
            vec![("OPERATOR_ADDRESS", "0xnothex".into())],
        ),
        (
            "PAGE_LIMIT",
            vec![
                ("OPERATOR_ADDRESS", good_op.into()),
                ("PAGE_LIMIT", "ten".into()),
            ],
        ),
        (
            "BACKOFF_FACTOR",
            vec![
                ("OPERATOR_ADDRESS", good_op.into()),
                ("BACKOFF_FACTOR", "0".into()),
            ],
        ),
        (
            "TARGET_CONFIG_HASH",
            vec![
                ("OPERATOR_ADDRESS", good_op.into()),
                ("TARGET_CONFIG_HASH", "0x12".into()),
            ],
        ),
        (
            "CHARON_TIMEOUT",
            vec![
                ("OPERATOR_ADDRESS", good_op.into()),
                ("CHARON_TIMEOUT", "forever".into()),
            ],
        ),
        (
            "LOG_LEVEL",
            vec![
                ("OPERATOR_ADDRESS", good_op.into()),
                ("LOG_LEVEL", "chatty".into()),
            ],
        ),
    ];
    for (name, env) in cases {
        let out = bin()
            .arg("run")
            .env("API_ENDPOINT", api.url().as_str())
            .env("CHARON_NODE_ID_DIR", dir.path())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
    }
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn existing_lock_exits_zero_without_contacting_the_api() {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster-lock.json"), "{}").unwrap();
    let out = bin()
        .args([
            "run",
            "0x3D1f0598943239806A251899016EAf4920d4726d",
            "/nonexistent/enr",
        ])
        .env("API_ENDPOINT", api.url().as_str())
        .env("CHARON_NODE_ID_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("already exists"));
    assert!(api.requests().is_empty());
}

#[test]
fn help_documents_the_environment() {
    let out = bin().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "OPERATOR_ADDRESS",
        "ENR_FILE_PATH",
        "OUTPUT_DEFINITION_FILE",
        "API_ENDPOINT",
        "CHARON_NODE_ID_DIR",
        "CHARON_PRIVATE_KEY_FILE",
        "INITIAL_RETRY_INTERVAL_SECONDS",
        "MAX_RETRY_INTERVAL_SECONDS",
        "BACKOFF_FACTOR",
        "PAGE_LIMIT",
        "LOG_LEVEL",
        "TARGET_CONFIG_HASH",
        "OPERATOR_PRIVATE_KEY_FILE",
        "CHARON_P2P_RELAYS",
        "CHARON_TIMEOUT",
        "CHARON_PUBLISH",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_polling_cleanly() {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "01".repeat(32)).unwrap();
    let data = dir.path().join("data");
    let mut child = bin()
        .args(["run", "0x3D1f0598943239806A251899016EAf4920d4726d"])
        .env("API_ENDPOINT", api.url().as_str())
        .env("CHARON_NODE_ID_DIR", &data)
        .env("CHARON_PRIVATE_KEY_FILE", &key)
        .env("ENR_FILE_PATH", dir.path().join("no-enr"))
        .env("INITIAL_RETRY_INTERVAL_SECONDS", "30")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it has polled once.
    for _ in 0..100 {
        if !api.requests().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!api.requests().is_empty(), "never polled");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(143));
    // The key was installed; nothing else was left behind.
    let left: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left, vec!["charon-enr-private-key".to_string()]);
}

/// Issue 10: an operator key without TARGET_CONFIG_HASH or
/// ACCEPT_INVITATIONS_FROM would sign whatever definition names the
/// operator first; the sidecar refuses to start, exit 2, no traffic, and
/// says what to set.
#[tokio::test]
async fn operator_key_without_policy_exits_2_before_any_traffic() {
    let api = FakeApi::start(FakeApiOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("operator-key");
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let out = bin()
        .args(["run", "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"])
        .env("API_ENDPOINT", api.url().as_str())
        .env("CHARON_NODE_ID_DIR", dir.path())
        .env("OPERATOR_PRIVATE_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for want in [
        "OPERATOR_PRIVATE_KEY_FILE",
        "TARGET_CONFIG_HASH",
        "ACCEPT_INVITATIONS_FROM",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(api.requests().is_empty());

    // The flag form of the policy is accepted (it gets as far as loading keys).
    let out = bin()
        .args([
            "run",
            "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A",
            "--accept-invitations-from",
            "0x0000000000000000000000000000000000000001",
        ])
        .env("API_ENDPOINT", api.url().as_str())
        .env("CHARON_NODE_ID_DIR", dir.path())
        .env("CHARON_PRIVATE_KEY_FILE", dir.path().join("missing-key"))
        .env("OPERATOR_PRIVATE_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(api.requests().is_empty());
}
