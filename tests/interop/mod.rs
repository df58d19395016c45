//! Real Go charon beside our nodes: builds charon from the Go module proxy
//! through the wrapper modules in `tests/interop/charon-*`, and starts its
//! `create`, `relay`, `dkg` and `combine` commands as separate processes.
//! [`geth`] does the same for a `geth --dev` execution client.

#![allow(dead_code)]

pub mod geth;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use charon_dkg_sidecar::cmd::localnet::{NodeOptions, NodeRun, Relay, start_charon_node};
use sha2::{Digest, Sha256};

/// Our binary.
pub const EXE: &str = env!("CARGO_BIN_EXE_charon-dkg-sidecar");

/// A charon release we build and talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charon {
    /// The v1.11 line: the newest v1.11 tag the module proxy serves (see the wrapper's go.mod).
    V1_11,
    /// The stable v1.10 line.
    V1_10,
}

impl Charon {
    fn dir_name(self) -> &'static str {
        match self {
            Charon::V1_11 => "charon-v1.11",
            Charon::V1_10 => "charon-v1.10",
        }
    }

    /// The environment variables that point the tests at a charon binary
    /// built elsewhere, and at the `--compat` value that speaks to it.
    fn overrides(self) -> (&'static str, &'static str) {
        match self {
            Charon::V1_11 => ("CHARON_V1_11_BIN", "CHARON_V1_11_COMPAT"),
            Charon::V1_10 => ("CHARON_V1_10_BIN", "CHARON_V1_10_COMPAT"),
        }
    }

    /// Our `--compat` value for talking to this release.
    pub fn compat(self) -> String {
        let default = match self {
            // The proxy serves v1.11.0-rc1 as its newest v1.11 tag; rc1 still
            // speaks bcast 1.0.0.
            Charon::V1_11 => "v1.11.0-rc1",
            Charon::V1_10 => "v1.10",
        };
        std::env::var(self.overrides().1).unwrap_or_else(|_| default.into())
    }

    /// The definition version this release writes and we create for it.
    pub fn definition_version(self) -> &'static str {
        match self {
            Charon::V1_11 => "v1.11.0",
            Charon::V1_10 => "v1.10.0",
        }
    }
}

/// One ceremony at a time: four charon nodes and four of ours on 2 cores
/// would otherwise starve each other into timeouts.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn build_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp; the binaries live beside it.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("interop")
}

/// The charon binary of `version`, built once per wrapper go.mod/go.sum.
pub fn charon(version: Charon) -> PathBuf {
    static BUILT: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = match version {
        Charon::V1_11 => &BUILT[0],
        Charon::V1_10 => &BUILT[1],
    };
    let tool = GoTool {
        wrapper: version.dir_name(),
        package: "github.com/obolnetwork/charon",
        // The ObolNetwork forks charon replaces its dependencies with are not in
        // the public checksum database; go.sum (committed) still pins them.
        env: &[("GONOSUMDB", "github.com/ObolNetwork")],
        needed_by: "the mixed-cluster tests build Go charon",
    };
    slot.get_or_init(|| go_tool(&tool, version.overrides().0))
        .clone()
}

/// A Go program the tests build from a wrapper module in `tests/interop/<wrapper>`
/// (a `go.mod` with a `tool` line, and its `go.sum`).
pub struct GoTool {
    /// The wrapper's directory name, also the binary's name in `target/interop`.
    pub wrapper: &'static str,
    /// The package `go build` builds.
    pub package: &'static str,
    /// Extra environment for `go build`.
    pub env: &'static [(&'static str, &'static str)],
    /// Which tests need it, for the message when Go is missing.
    pub needed_by: &'static str,
}

/// `tool`'s binary: the one `$override_var` names if set, else built once per
/// wrapper go.mod/go.sum into `target/interop/`.
pub fn go_tool(tool: &GoTool, override_var: &str) -> PathBuf {
    match std::env::var(override_var) {
        Ok(bin) => PathBuf::from(bin),
        Err(_) => build(tool),
    }
}

fn build(tool: &GoTool) -> PathBuf {
    let wrapper = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(tool.wrapper);
    let mut h = Sha256::new();
    for f in ["go.mod", "go.sum"] {
        h.update(std::fs::read(wrapper.join(f)).expect("wrapper go.mod/go.sum"));
    }
    let stamp = hex::encode(h.finalize());
    let out_dir = build_dir();
    std::fs::create_dir_all(&out_dir).unwrap();
    let bin = out_dir.join(tool.wrapper);
    let stamp_file = out_dir.join(format!("{}.stamp", tool.wrapper));
    if bin.exists() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(&stamp) {
        return bin;
    }
    let go = match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => "go",
        _ => panic!(
            "{}: install Go 1.26 or newer and gcc (cgo), with the Go module proxy \
             reachable, then rerun cargo test",
            tool.needed_by
        ),
    };
    let tmp = out_dir.join(format!("{}.building-{}", tool.wrapper, std::process::id()));
    let started = Instant::now();
    eprintln!("building {} (once per go.mod change) ...", tool.wrapper);
    let out = Command::new(go)
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(tool.package)
        .current_dir(&wrapper)
        .envs(tool.env.iter().copied())
        .env("CGO_ENABLED", "1")
        .env_remove("GOFLAGS")
        .stdin(Stdio::null())
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "go build of {} failed:\n{}",
        tool.wrapper,
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &bin).unwrap();
    std::fs::write(&stamp_file, &stamp).unwrap();
    eprintln!("built {} in {:?}", bin.display(), started.elapsed());
    bin
}

/// Runs a command to completion, panicking with its output if it fails.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// `charon create enr` in `dir`; returns the ENR it printed.
pub fn charon_create_enr(version: Charon, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let text = run_ok(
        Command::new(charon(version))
            .args(["create", "enr", "--data-dir"])
            .arg(dir),
    );
    text.split_whitespace()
        .find(|w| w.starts_with("enr:"))
        .unwrap_or_else(|| panic!("no ENR in charon's output:\n{text}"))
        .to_string()
}

/// `charon relay` on loopback, advertising its private addresses.
pub fn charon_relay(version: Charon, dir: &Path) -> Relay {
    Relay::start_charon(&charon(version), dir).unwrap()
}

/// Our `relay` on loopback.
pub fn rust_relay(dir: &Path) -> Relay {
    Relay::start(Path::new(EXE), dir).unwrap()
}

/// `charon dkg` for operator `index`.
pub fn charon_node(
    version: Charon,
    index: usize,
    data_dir: &Path,
    definition: &Path,
    relay: &Relay,
    timeout: &str,
) -> NodeRun {
    let opts = NodeOptions {
        definition: definition.to_path_buf(),
        relay_url: relay.url.clone(),
        timeout: timeout.into(),
        extra_args: Vec::new(),
        env: Vec::new(),
    };
    start_charon_node(&charon(version), index, data_dir, &opts, "debug").unwrap()
}

/// Waits until `node`'s log contains `needle`.
pub fn wait_for_log(node: &NodeRun, needle: &str, limit: Duration) {
    let start = Instant::now();
    while !node.log_text().contains(needle) {
        assert!(
            start.elapsed() < limit,
            "node {} never logged {needle:?}:\n{}",
            node.index,
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A network namespace whose loopback also holds public-looking addresses
/// (`1.0.0.1`, `1.0.0.2`, ...), entered by the calling thread only.
/// go-libp2p runs hole punching only on hosts that have a public address, so
/// DCUtR with Go peers can only happen where such addresses exist; nothing
/// leaves the machine, the namespace has no route out. Processes the thread
/// spawns inherit the namespace. Dropping it returns the thread home and
/// deletes the namespace.
pub struct PublicNet {
    name: String,
    home: std::fs::File,
}

impl PublicNet {
    /// Creates the namespace with `n` public addresses and moves this thread in.
    /// Build everything that needs the network (charon) before.
    pub fn enter(n: u8) -> PublicNet {
        use std::os::fd::AsFd;
        let name = format!("cds-test-{}", std::process::id());
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
                panic!("`ip` from iproute2 is needed (apt-get install iproute2): {e}")
            });
            assert!(
                out.status.success(),
                "ip {args:?} failed (network namespaces need root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // A namespace left by a crashed earlier run of this process id.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        for i in 1..=n {
            ip(&[
                "-n",
                &name,
                "addr",
                "add",
                &format!("1.0.0.{i}/32"),
                "dev",
                "lo",
            ]);
        }
        let home = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
        let ns = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
        PublicNet { name, home }
    }

    /// The `i`-th public address (1-based).
    pub fn addr(i: u8) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(1, 0, 0, i)
    }
}

impl Drop for PublicNet {
    fn drop(&mut self) {
        use std::os::fd::AsFd;
        let _ = rustix::thread::move_into_link_name_space(
            self.home.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        );
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
