//! A local cluster of separate processes on loopback: one relay and n `dkg`
//! nodes, each with its own data directory. Used by the `bench` command, the
//! integration tests and the demo, so they exercise exactly what operators run.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod steps;
pub use steps::StepFigures;

/// Why the local cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    /// Spawning or waiting on a process failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The relay did not come up.
    #[error("relay did not start serving on {0} within 30 s")]
    RelayStart(String),
    /// The nodes did not finish in time.
    #[error("nodes did not finish within {0:?}")]
    Timeout(Duration),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalnetError {
    let what = what.into();
    move |source| LocalnetError::Io { what, source }
}

/// A free TCP port on 127.0.0.1 (released before use; fine on loopback).
pub fn free_port() -> Result<u16, LocalnetError> {
    free_ports(1)
}

/// Ports handed out below the kernel's ephemeral range (32768 and up on
/// Linux): a port the kernel gave us through `bind(0)` and we released can be
/// taken by any outgoing connection before the node binds it again, which is
/// how parallel tests used to collide.
const PORT_WINDOW: std::ops::Range<u16> = 15_000..32_000;

/// The first of `n` consecutive TCP ports that are free on 127.0.0.1 now.
/// Each call in a process moves past the previous block, and processes start
/// at different offsets, so concurrent tests rarely race for the same port.
pub fn free_ports(n: u16) -> Result<u16, LocalnetError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let width = u32::from(PORT_WINDOW.end - PORT_WINDOW.start);
    let n32 = u32::from(n.max(1));
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % width,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..width / n32 {
        let offset = NEXT.fetch_add(n32, Ordering::Relaxed) % width;
        if offset + n32 > width {
            continue;
        }
        let base = PORT_WINDOW.start + offset as u16;
        if (base..base + n.max(1)).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return Ok(base);
        }
    }
    Err(LocalnetError::Io {
        what: format!("find {n} free consecutive TCP port(s) on 127.0.0.1"),
        source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
    })
}

/// A running relay process.
pub struct Relay {
    child: Child,
    /// `http://127.0.0.1:<port>`, what nodes get as `--p2p-relays`.
    pub url: String,
    /// The relay's libp2p TCP port: a node's sockets to it carry relayed
    /// traffic, every other socket is direct.
    pub tcp_port: u16,
    /// The port of its HTTP endpoint (nodes resolve the relay there).
    pub http_port: u16,
}

impl Relay {
    /// Both ports a node talks to the relay on.
    pub fn ports(&self) -> [u16; 2] {
        [self.tcp_port, self.http_port]
    }
}

impl Relay {
    /// Starts `relay` with its data in `dir`, waiting until its HTTP endpoint answers.
    pub fn start(exe: &Path, dir: &Path) -> Result<Relay, LocalnetError> {
        fs::create_dir_all(dir).map_err(io("create relay directory"))?;
        let http = free_port()?;
        let tcp = free_port()?;
        let mut cmd = Command::new(exe);
        cmd.args(["relay", "--http-address"])
            .arg(format!("127.0.0.1:{http}"))
            .arg("--p2p-tcp-address")
            .arg(format!("127.0.0.1:{tcp}"))
            .arg("--data-dir")
            .arg(dir)
            // Loopback addresses are private; a local relay must advertise them.
            .arg("--p2p-advertise-private-addresses");
        Relay::spawn(cmd, http, tcp, dir)
    }

    /// Spawns any relay command (ours or `charon relay`) whose HTTP endpoint
    /// listens on `127.0.0.1:<http>` and libp2p on TCP port `tcp`, logging to
    /// `dir/relay.log`, and waits until that endpoint accepts connections.
    pub fn spawn(
        mut cmd: Command,
        http: u16,
        tcp: u16,
        dir: &Path,
    ) -> Result<Relay, LocalnetError> {
        fs::create_dir_all(dir).map_err(io("create relay directory"))?;
        let log = fs::File::create(dir.join("relay.log")).map_err(io("create relay log"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("open relay log"))?)
            .stderr(log)
            .spawn()
            .map_err(io("start relay"))?;
        let mut relay = Relay {
            child,
            url: format!("http://127.0.0.1:{http}"),
            tcp_port: tcp,
            http_port: http,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if std::net::TcpStream::connect(("127.0.0.1", http)).is_ok() {
                return Ok(relay);
            }
            if let Ok(Some(_)) = relay.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(LocalnetError::RelayStart(relay.url.clone()))
    }
}

impl Relay {
    /// Starts Go `charon relay` (a binary at `charon`) on loopback, advertising
    /// its private addresses for loopback peers.
    pub fn start_charon(charon: &Path, dir: &Path) -> Result<Relay, LocalnetError> {
        Relay::start_charon_with(charon, dir, &[])
    }

    /// [`Relay::start_charon`] with extra flags (e.g. `--p2p-external-ip`).
    pub fn start_charon_with(
        charon: &Path,
        dir: &Path,
        extra: &[&str],
    ) -> Result<Relay, LocalnetError> {
        let http = free_port()?;
        let tcp = free_port()?;
        let mut cmd = Command::new(charon);
        cmd.args(["relay", "--data-dir"])
            .arg(dir)
            .arg("--http-address")
            .arg(format!("127.0.0.1:{http}"))
            .arg("--p2p-tcp-address")
            .arg(format!("127.0.0.1:{tcp}"))
            .arg("--p2p-advertise-private-addresses")
            .arg("--log-level=debug")
            .args(extra);
        Relay::spawn(cmd, http, tcp, dir)
    }
}

impl Relay {
    /// Stops the relay now (every circuit through it is reset).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One node's process and what it reported.
pub struct NodeRun {
    /// 0-based operator index.
    pub index: usize,
    /// The node's data directory.
    pub data_dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    child: Option<Child>,
    /// Exit status once finished.
    pub status: Option<ExitStatus>,
    /// Peak resident memory (VmHWM) in KiB, sampled while it ran.
    pub peak_rss_kib: u64,
    /// User + system CPU seconds, as last sampled before it exited.
    pub cpu_secs: f64,
    /// TCP payload bytes (acked sent, received) per socket of the process,
    /// as `ss` last reported them while it ran.
    sockets: HashMap<String, (u64, u64)>,
    /// Time from spawn to exit.
    pub wall: Option<Duration>,
    started: Instant,
    /// The node's log as read so far, for step starts.
    tail: steps::LogTail,
    /// CPU and bytes at each step start seen in the log.
    marks: Vec<steps::Mark>,
}

/// Options for one `dkg` node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Definition file path.
    pub definition: PathBuf,
    /// Relay URL.
    pub relay_url: String,
    /// `--timeout` for exchanges.
    pub timeout: String,
    /// Extra arguments appended to the command line.
    pub extra_args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// Where operator `index`'s log goes: beside its data directory, so the
/// directory itself holds only what the ceremony writes.
fn node_log(data_dir: &Path, index: usize) -> PathBuf {
    data_dir
        .parent()
        .unwrap_or(data_dir)
        .join(format!("node{index}.log"))
}

/// Starts `dkg` for operator `index` with data in `data_dir`.
pub fn start_node(
    exe: &Path,
    index: usize,
    data_dir: &Path,
    opts: &NodeOptions,
) -> Result<NodeRun, LocalnetError> {
    let log = node_log(data_dir, index);
    let tcp = free_port()?;
    let mon = free_port()?;
    let mut cmd = Command::new(exe);
    cmd.arg("dkg")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--definition-file")
        .arg(&opts.definition)
        .arg("--p2p-relays")
        .arg(&opts.relay_url)
        .arg("--p2p-tcp-address")
        .arg(format!("127.0.0.1:{tcp}"))
        .arg("--monitoring-address")
        .arg(format!("127.0.0.1:{mon}"))
        .arg("--timeout")
        .arg(&opts.timeout)
        .arg("--shutdown-delay")
        .arg("0s")
        .args(&opts.extra_args)
        .env_remove("CHARON_LOG_FORMAT")
        .envs(opts.env.iter().map(|(k, v)| (k, v)));
    NodeRun::spawn(index, data_dir, &log, cmd)
}

/// CPU seconds (utime + stime) of a process. Linux reports them in clock
/// ticks, which are 100 per second on every platform Rust's std targets there.
fn cpu_secs(pid: u32) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may contain spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A socket (local and peer address) and its (acked sent, received) bytes.
type SocketBytes = (String, (u64, u64));

/// TCP bytes of every socket on the machine, by owning pid and socket
/// (local and peer address), from `ss -tinpH`. Empty if `ss` is missing.
fn tcp_bytes() -> HashMap<u32, Vec<SocketBytes>> {
    let mut out: HashMap<u32, Vec<SocketBytes>> = HashMap::new();
    let Ok(o) = Command::new("ss")
        .args(["-tinpH"])
        .stderr(Stdio::null())
        .output()
    else {
        return out;
    };
    let text = String::from_utf8_lossy(&o.stdout);
    let mut current: Option<(String, Vec<u32>)> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let key = f.get(3..5).map(|a| a.join(" ")).unwrap_or_default();
            let pids = line
                .split("pid=")
                .skip(1)
                .filter_map(|p| p.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
                .collect();
            current = Some((key, pids));
            continue;
        }
        let Some((key, pids)) = current.take() else {
            continue;
        };
        let num = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let bytes = (num("bytes_acked:"), num("bytes_received:"));
        for pid in pids {
            out.entry(pid).or_default().push((key.clone(), bytes));
        }
    }
    out
}

/// Starts Go `charon dkg` (a binary at `charon`) for operator `index`, with
/// the same options our nodes get, so both sides of a mixed cluster match.
pub fn start_charon_node(
    charon: &Path,
    index: usize,
    data_dir: &Path,
    opts: &NodeOptions,
    log_level: &str,
) -> Result<NodeRun, LocalnetError> {
    let log = node_log(data_dir, index);
    let mut cmd = Command::new(charon);
    cmd.args(["dkg", "--data-dir"])
        .arg(data_dir)
        .arg("--definition-file")
        .arg(&opts.definition)
        .arg("--p2p-relays")
        .arg(&opts.relay_url)
        .arg("--p2p-tcp-address")
        .arg(format!("127.0.0.1:{}", free_port()?))
        .arg("--timeout")
        .arg(&opts.timeout)
        .arg("--shutdown-delay")
        .arg("1s")
        .arg("--publish=false")
        .arg(format!("--log-level={log_level}"))
        .args(&opts.extra_args)
        .envs(opts.env.iter().map(|(k, v)| (k, v)));
    NodeRun::spawn(index, data_dir, &log, cmd)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits for all nodes, sampling their peak memory, killing them all at `timeout`.
pub fn wait_all(nodes: &mut [NodeRun], timeout: Duration) -> Result<(), LocalnetError> {
    let start = Instant::now();
    let mut round = 0u64;
    loop {
        let mut running = 0;
        let started_steps: Vec<Vec<u32>> = nodes
            .iter_mut()
            .map(|n| {
                if n.child.is_some() {
                    n.tail.new_steps(&n.log)
                } else {
                    Vec::new()
                }
            })
            .collect();
        // `ss` is a process spawn: sample sockets twice a second, which sees
        // the long-lived ceremony connections, and whenever a step starts.
        let sockets = if round.is_multiple_of(10) || started_steps.iter().any(|s| !s.is_empty()) {
            tcp_bytes()
        } else {
            HashMap::new()
        };
        round += 1;
        for (pos, n) in nodes.iter_mut().enumerate() {
            let Some(child) = n.child.as_mut() else {
                continue;
            };
            if let Some(kib) = vm_hwm_kib(child.id()) {
                n.peak_rss_kib = n.peak_rss_kib.max(kib);
            }
            if let Some(c) = cpu_secs(child.id()) {
                n.cpu_secs = c;
            }
            for (key, (sent, recv)) in sockets.get(&child.id()).into_iter().flatten() {
                let e = n.sockets.entry(key.clone()).or_default();
                *e = (e.0.max(*sent), e.1.max(*recv));
            }
            for &step in started_steps.get(pos).into_iter().flatten() {
                n.marks.push(steps::Mark {
                    step,
                    at: Instant::now(),
                    cpu: n.cpu_secs,
                    sockets: n.sockets.clone(),
                });
            }
            match child.try_wait().map_err(io("wait for node"))? {
                Some(st) => {
                    n.status = Some(st);
                    n.wall = Some(n.started.elapsed());
                    n.child = None;
                }
                None => running += 1,
            }
        }
        if running == 0 {
            return Ok(());
        }
        if start.elapsed() > timeout {
            for n in nodes.iter_mut() {
                n.kill();
            }
            return Err(LocalnetError::Timeout(timeout));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl NodeRun {
    /// Spawns any node command (ours or `charon dkg`) for operator `index`,
    /// with stdout and stderr going to `log`.
    pub fn spawn(
        index: usize,
        data_dir: &Path,
        log: &Path,
        mut cmd: Command,
    ) -> Result<NodeRun, LocalnetError> {
        let log_file = fs::File::create(log).map_err(io("create node log"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(io("open node log"))?)
            .stderr(log_file)
            .spawn()
            .map_err(io(format!("start node {index}")))?;
        Ok(NodeRun {
            index,
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
            child: Some(child),
            status: None,
            peak_rss_kib: 0,
            cpu_secs: 0.0,
            sockets: HashMap::new(),
            wall: None,
            started: Instant::now(),
            tail: steps::LogTail::default(),
            marks: Vec::new(),
        })
    }

    /// Kills the node if it still runs.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            self.status = c.wait().ok();
        }
    }

    /// TCP payload bytes (sent and acknowledged, received) over all of the
    /// node's sockets, as sampled while it ran.
    pub fn tcp_bytes(&self) -> (u64, u64) {
        self.sockets
            .values()
            .fold((0, 0), |(s, r), (a, b)| (s + a, r + b))
    }

    /// TCP payload bytes `(relayed, direct)`, each `(sent, received)`: the
    /// sockets whose remote port is one of `relay_ports` are the relay's.
    pub fn tcp_bytes_split(&self, relay_ports: &[u16]) -> ((u64, u64), (u64, u64)) {
        steps::split(&self.sockets, relay_ports)
    }

    /// Wall, CPU and TCP bytes of each step the node's log started, the last
    /// one up to the node's exit. Sockets whose remote port is one of
    /// `relay_ports` count as relayed.
    pub fn step_figures(&self, relay_ports: &[u16]) -> Vec<StepFigures> {
        let end = steps::Mark {
            step: 0,
            at: self.wall.map_or_else(Instant::now, |w| self.started + w),
            cpu: self.cpu_secs,
            sockets: self.sockets.clone(),
        };
        steps::figures(&self.marks, &end, relay_ports)
    }

    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The node's log text.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Per-step durations reported in the log as `step=<k> ... duration_s=<x>`
    /// on "step done" lines.
    pub fn step_durations(&self) -> Vec<(u32, f64)> {
        let Ok(f) = fs::File::open(&self.log) else {
            return Vec::new();
        };
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains("Step done"))
            .filter_map(|l| {
                let step = field(&l, "step=")?.parse().ok()?;
                let secs = field(&l, "duration_s=")?.parse().ok()?;
                Some((step, secs))
            })
            .collect()
    }
}

impl Drop for NodeRun {
    fn drop(&mut self) {
        self.kill();
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ',')
        .unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields() {
        let l = "2026-11-22T03:00:00Z  INFO Step done step=3 duration_s=1.25 validators=4";
        assert_eq!(field(l, "step="), Some("3"));
        assert_eq!(field(l, "duration_s="), Some("1.25"));
        assert_eq!(field(l, "nope="), None);
        assert!(free_port().unwrap() > 0);
        let a = free_ports(4).unwrap();
        let b = free_ports(4).unwrap();
        assert!(PORT_WINDOW.contains(&a) && PORT_WINDOW.contains(&b));
        assert!(a.abs_diff(b) >= 4, "blocks {a} and {b} overlap");
        assert!(vm_hwm_kib(std::process::id()).unwrap() > 0);
    }
}
