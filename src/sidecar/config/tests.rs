//! Validation of the sidecar's settings.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn base() -> Settings {
    Settings {
        operator_address: Some("0x3D1f0598943239806A251899016EAf4920d4726d".into()),
        enr_file_path: "/enr-from-job/enr.txt".into(),
        output_definition_file: "/charon-data/cluster-definition.json".into(),
        api_endpoint: DEFAULT_API_ENDPOINT.into(),
        charon_node_id_dir: "/charon-data".into(),
        charon_private_key_file: "/charon-data/charon-enr-private-key".into(),
        initial_retry_interval_seconds: "10".into(),
        max_retry_interval_seconds: "300".into(),
        backoff_factor: "2".into(),
        page_limit: "10".into(),
        log_level: "INFO".into(),
        api_timeout_seconds: "30".into(),
        dkg: DkgFlags {
            p2p_relays: vec![DEFAULT_DKG_RELAY.into()],
            timeout: "2m".into(),
            publish: "false".into(),
            publish_timeout: "1m".into(),
            shutdown_delay: "5s".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn defaults_validate() {
    let c = base().validate().unwrap();
    assert_eq!(c.api_endpoint.as_str(), "https://api.obol.tech/");
    assert_eq!(c.backoff.initial, Duration::from_secs(10));
    assert_eq!(c.backoff.max, Duration::from_secs(300));
    assert_eq!(c.page_limit, 10);
    assert_eq!(c.dkg.timeout, Duration::from_secs(120));
    assert_eq!(c.dkg.publish_address, "https://api.obol.tech/v1");
    assert!(!c.dkg.publish);
}

#[test]
fn rejects_bad_values_naming_the_variable() {
    type Mutate = Box<dyn Fn(&mut Settings)>;
    let cases: Vec<(&str, Mutate)> = vec![
        ("OPERATOR_ADDRESS", Box::new(|s| s.operator_address = None)),
        (
            "OPERATOR_ADDRESS",
            Box::new(|s| s.operator_address = Some("null".into())),
        ),
        (
            "OPERATOR_ADDRESS",
            Box::new(|s| s.operator_address = Some("0x123".into())),
        ),
        (
            "OPERATOR_ADDRESS",
            Box::new(|s| {
                s.operator_address = Some("0xZZ1f0598943239806A251899016EAf4920d4726d".into())
            }),
        ),
        (
            "API_ENDPOINT",
            Box::new(|s| s.api_endpoint = "ftp://x".into()),
        ),
        (
            "API_ENDPOINT",
            Box::new(|s| s.api_endpoint = "not a url".into()),
        ),
        (
            "INITIAL_RETRY_INTERVAL_SECONDS",
            Box::new(|s| s.initial_retry_interval_seconds = "ten".into()),
        ),
        (
            "INITIAL_RETRY_INTERVAL_SECONDS",
            Box::new(|s| s.initial_retry_interval_seconds = "-1".into()),
        ),
        (
            "MAX_RETRY_INTERVAL_SECONDS",
            Box::new(|s| s.max_retry_interval_seconds = "5".into()),
        ),
        (
            "BACKOFF_FACTOR",
            Box::new(|s| s.backoff_factor = "0.5".into()),
        ),
        (
            "BACKOFF_FACTOR",
            Box::new(|s| s.backoff_factor = "NaN".into()),
        ),
        ("PAGE_LIMIT", Box::new(|s| s.page_limit = "0".into())),
        ("PAGE_LIMIT", Box::new(|s| s.page_limit = "1.5".into())),
        ("LOG_LEVEL", Box::new(|s| s.log_level = "loud".into())),
        (
            "TARGET_CONFIG_HASH",
            Box::new(|s| s.target_config_hash = Some("0x1234".into())),
        ),
        ("CHAIN_ID", Box::new(|s| s.chain_id = Some("hoodi".into()))),
        (
            "LOCK_HASH",
            Box::new(|s| s.lock_hash = Some("0xabc".into())),
        ),
        (
            "CHARON_TIMEOUT",
            Box::new(|s| s.dkg.timeout = "soon".into()),
        ),
        ("CHARON_TIMEOUT", Box::new(|s| s.dkg.timeout = "0s".into())),
        (
            "CHARON_PUBLISH",
            Box::new(|s| s.dkg.publish = "maybe".into()),
        ),
        (
            "CHARON_P2P_RELAYS",
            Box::new(|s| s.dkg.p2p_relays = vec!["relay.example".into()]),
        ),
        (
            "CHARON_P2P_TCP_ADDRESS",
            Box::new(|s| s.dkg.p2p_tcp_address = vec!["0.0.0.0".into()]),
        ),
        (
            "CHARON_P2P_EXTERNAL_IP",
            Box::new(|s| s.dkg.p2p_external_ip = Some("1.2.3".into())),
        ),
        (
            "CHARON_NICKNAME",
            Box::new(|s| s.dkg.nickname = Some("x".repeat(33))),
        ),
        (
            "CHARON_EXECUTION_CLIENT_RPC_ENDPOINT",
            Box::new(|s| s.dkg.execution_client_rpc_endpoint = Some("wss://node/SECRETKEY".into())),
        ),
        (
            "ACCEPT_INVITATIONS_FROM",
            Box::new(|s| s.accept_invitations_from = vec!["0x1234".into()]),
        ),
        (
            "OPERATOR_PRIVATE_KEY_FILE",
            Box::new(|s| s.operator_private_key_file = Some("/secrets/key".into())),
        ),
    ];
    for (name, mutate) in cases {
        let mut s = base();
        mutate(&mut s);
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains(name), "{name}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(!e.contains("SECRETKEY"), "echoes a secret: {e}");
    }
}

#[test]
fn normalises_values() {
    let mut s = base();
    s.api_endpoint = "http://127.0.0.1:3001/v1/definition/operator/".into();
    s.target_config_hash =
        Some("7F0FD29ABB11674B4E61000DE26BFF3600237AAB0402427BD1409756665C2115".into());
    s.log_level = "debug".into();
    s.backoff_factor = "1.5".into();
    s.dkg.publish = "TRUE".into();
    s.dkg.timeout = "1m30s".into();
    let c = s.validate().unwrap();
    assert_eq!(c.api_endpoint.as_str(), "http://127.0.0.1:3001/");
    assert_eq!(
        c.target_config_hash.as_deref(),
        Some("0x7f0fd29abb11674b4e61000de26bff3600237aab0402427bd1409756665c2115")
    );
    assert_eq!(c.log_level, LogLevel::Debug);
    assert!(c.dkg.publish);
    assert_eq!(c.dkg.timeout, Duration::from_secs(90));
    assert_eq!(c.dkg.publish_address, "http://127.0.0.1:3001/v1");
}

#[test]
fn an_operator_key_needs_an_acceptance_policy() {
    let mut s = base();
    s.operator_private_key_file = Some("/secrets/key".into());
    let e = s.validate().unwrap_err().to_string();
    assert!(
        e.contains("TARGET_CONFIG_HASH") && e.contains("ACCEPT_INVITATIONS_FROM"),
        "{e}"
    );
    s.accept_invitations_from = vec![
        " 0xAbCdEf0000000000000000000000000000000001".into(),
        "".into(),
        "0xabcdef0000000000000000000000000000000001".into(),
    ];
    let c = s.validate().unwrap();
    assert_eq!(
        c.accept_invitations_from,
        ["0xabcdef0000000000000000000000000000000001"]
    );
    let mut s = base();
    s.operator_private_key_file = Some("/secrets/key".into());
    s.target_config_hash = Some(format!("0x{}", "ab".repeat(32)));
    assert!(s.validate().is_ok());
}

#[test]
fn positional_arguments_win() {
    let s = base().with_positional(
        Some("0x0000000000000000000000000000000000000001".into()),
        Some("/tmp/enr".into()),
    );
    let c = s.validate().unwrap();
    assert_eq!(
        c.operator_address,
        "0x0000000000000000000000000000000000000001"
    );
    assert_eq!(c.enr_file, PathBuf::from("/tmp/enr"));
}

#[test]
fn go_durations() {
    let d = |s| parse_go_duration("X", s);
    assert_eq!(d("300ms").unwrap(), Duration::from_millis(300));
    assert_eq!(d("1h2m3s").unwrap(), Duration::from_secs(3723));
    assert_eq!(d("45").unwrap(), Duration::from_secs(45));
    for bad in ["", "m", "5x", "1..2s", "-1s", "1e400s", "s5"] {
        assert!(d(bad).is_err(), "{bad}");
    }
}
