//! The `bench` subcommand: a full local ceremony (one relay, n `dkg` node
//! processes on loopback) timed per step, with each node's wall time, CPU time,
//! peak memory and I/O. With `--impl charon|mixed|all` the same ceremony runs
//! with Go charon nodes too, so both implementations are measured in one run.
//! Before the nodes start, [`floor`] measures what the cryptography alone
//! costs on this machine, and every run is reported as a ratio to it.

mod floor;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::create::{DkgArgs, definition_json, new_enr_key};
use super::localnet::{
    NodeOptions, NodeRun, Relay, StepFigures, start_charon_node, start_node, wait_all,
};

/// Which implementation runs the nodes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// Every node is ours.
    Rust,
    /// Every node is Go charon (`--charon`).
    Charon,
    /// The first half of the operators ours, the rest Go charon.
    Mixed,
    /// rust, charon and mixed one after the other, with Rust/Go ratios.
    All,
}

/// Which relay the nodes meet on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayImpl {
    /// Our `relay`.
    Rust,
    /// Go `charon relay` (`--charon`).
    Charon,
}

/// Arguments of `bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of nodes (operators).
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Number of validators.
    #[arg(long, default_value_t = 100)]
    pub validators: usize,
    /// Working directory (a temporary one by default; kept when given).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Exchange timeout passed to the nodes.
    #[arg(long, default_value = "10m")]
    pub timeout: String,
    /// Who runs the nodes: rust, charon, mixed (half each) or all three in turn.
    #[arg(long = "impl", value_enum, default_value = "rust")]
    pub implementation: Impl,
    /// Relay the nodes meet on.
    #[arg(long, value_enum, default_value = "rust")]
    pub relay: RelayImpl,
    /// Go charon binary, for --impl charon/mixed/all or --relay charon
    /// (`cargo test` builds target/interop/charon-v1.11 and charon-v1.10).
    #[arg(long, env = "CHARON_BIN")]
    pub charon: Option<PathBuf>,
    /// Our nodes' --compat, matching the charon release (v1.11, v1.10, v1.11.0-rc1).
    #[arg(long, default_value = "v1.11")]
    pub compat: String,
    /// Our nodes reach each other only through the relay (`--p2p-relay-only`).
    #[arg(long)]
    pub relay_only: bool,
    /// Repetitions of each ceremony; medians are reported.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

/// Runs `bench`.
pub fn run(args: Args) -> ExitCode {
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// What one node did in one ceremony.
#[derive(Clone, Debug)]
struct NodeFigures {
    rust: bool,
    wall: f64,
    cpu: f64,
    peak_mib: f64,
    sent_mib: f64,
    recv_mib: f64,
    /// Sent plus received through the relay.
    relayed_mib: f64,
    steps: Vec<StepFigures>,
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn bench(args: &Args) -> Result<(), String> {
    if args.nodes < 2 || args.validators == 0 {
        return Err("need at least 2 nodes and 1 validator".into());
    }
    let needs_charon = args.implementation != Impl::Rust || args.relay == RelayImpl::Charon;
    let charon = match (&args.charon, needs_charon) {
        (Some(c), _) => Some(c.clone()),
        (None, false) => None,
        (None, true) => {
            return Err(
                "Go charon nodes or relay need --charon PATH (or CHARON_BIN): \
                        `cargo test --test charon_interop` builds target/interop/charon-v1.11 \
                        and target/interop/charon-v1.10"
                    .into(),
            );
        }
    };
    let impls = match args.implementation {
        Impl::All => vec![Impl::Rust, Impl::Charon, Impl::Mixed],
        one => vec![one],
    };
    let n = u32::try_from(args.nodes).map_err(|_| "too many nodes".to_string())?;
    let t = u32::try_from(crate::lock::create::default_threshold(args.nodes))
        .map_err(|_| "too many nodes".to_string())?;
    // Lock hash, validator registration and the one default deposit amount.
    let sig_types = 3;
    println!("Measuring this machine's floor (the cryptography alone, in-process)...");
    let first = floor::measure(n, t, sig_types)?;
    print_floor(&first, args);
    let mut floors = vec![first];
    let mut results: Vec<(Impl, Vec<f64>, Vec<NodeFigures>)> = Vec::new();
    for &im in &impls {
        let mut walls = Vec::new();
        let mut figures = Vec::new();
        for run in 0..args.runs.max(1) {
            println!(
                "\n== {im:?}: {} nodes x {} validators, run {} of {} (separate processes, {:?} relay on loopback)",
                args.nodes,
                args.validators,
                run + 1,
                args.runs.max(1),
                args.relay
            );
            let (wall, nodes) = ceremony(args, im, charon.as_deref())?;
            // This machine's speed drifts by several percent over minutes: the
            // run is compared with the mean of the floors just before and
            // after it, not with a single sample taken at its start.
            let before = floors.last().copied().unwrap_or(first);
            let after = floor::measure(n, t, sig_types)?;
            floors.push(after);
            let around = floor::Floor::mean(&[before, after]);
            println!(
                "  floor after the run: {:.2} CPU ms per validator per node (before: {:.2}); the ratios use their mean, {:.2}",
                after.per_validator() * 1e3,
                before.per_validator() * 1e3,
                around.per_validator() * 1e3
            );
            print_ratios(&around, args, wall, &nodes);
            walls.push(wall);
            figures.extend(nodes);
        }
        println!("  median wall time: {:.2} s", median(walls.clone()));
        results.push((im, walls, figures));
    }
    let floor = floor::Floor::mean(&floors);
    println!(
        "\nSummary (medians over runs and nodes of each implementation; floor {:.2} CPU ms per validator per node, the mean of {} measurements):",
        floor.per_validator() * 1e3,
        floors.len()
    );
    println!(
        "  {:<8} {:>8} {:>8} {:>6} {:>10} {:>8} {:>10} {:>10} {:>10}",
        "ceremony",
        "wall s",
        "x floor",
        "nodes",
        "node CPU s",
        "x floor",
        "peak MiB",
        "recv MiB",
        "sent MiB"
    );
    let mut per_impl: Vec<(bool, f64, f64, f64)> = Vec::new();
    for (im, walls, figs) in &results {
        for rust in [true, false] {
            let f: Vec<&NodeFigures> = figs.iter().filter(|n| n.rust == rust).collect();
            if f.is_empty() {
                continue;
            }
            let cpu = median(f.iter().map(|n| n.cpu).collect());
            let peak = median(f.iter().map(|n| n.peak_mib).collect());
            let io = median(f.iter().map(|n| n.recv_mib + n.sent_mib).collect());
            let wall = median(walls.clone());
            println!(
                "  {:<8} {:>8.2} {:>8.2} {:>6} {:>10.2} {:>8.2} {:>10.1} {:>10.2} {:>10.2}",
                format!("{im:?}"),
                wall,
                wall / floor.wall(args.nodes, args.validators),
                if rust { "rust" } else { "go" },
                cpu,
                cpu / floor.node_cpu(args.validators),
                peak,
                median(f.iter().map(|n| n.recv_mib).collect()),
                median(f.iter().map(|n| n.sent_mib).collect()),
            );
            per_impl.push((rust, cpu, peak, io));
        }
    }
    let side = |rust: bool, k: fn(&(bool, f64, f64, f64)) -> f64| {
        median(per_impl.iter().filter(|p| p.0 == rust).map(k).collect())
    };
    if per_impl.iter().any(|p| p.0) && per_impl.iter().any(|p| !p.0) {
        println!(
            "  Rust/Go per node: CPU {:.2}x, peak memory {:.2}x, TCP bytes {:.2}x",
            side(true, |p| p.1) / side(false, |p| p.1),
            side(true, |p| p.2) / side(false, |p| p.2),
            side(true, |p| p.3) / side(false, |p| p.3),
        );
    }
    if let (Some(r), Some(g)) = (
        results.iter().find(|r| r.0 == Impl::Rust),
        results.iter().find(|r| r.0 == Impl::Charon),
    ) {
        println!(
            "  Rust/Go wall time of the whole ceremony: {:.2}x",
            median(r.1.clone()) / median(g.1.clone())
        );
    }
    Ok(())
}

fn print_floor(f: &floor::Floor, args: &Args) {
    println!(
        "  floor per validator per node (CPU ms): keystore {:.2} ({}), FROST {:.2}, signatures {:.2}; total {:.2}",
        f.keystore * 1e3,
        crate::lock::keystore::pbkdf2::derive_path(),
        f.frost * 1e3,
        f.signatures * 1e3,
        f.per_validator() * 1e3
    );
    println!(
        "  floor for {} nodes x {} validators on {} core(s): {:.2} s wall, {:.2} CPU s per node",
        args.nodes,
        args.validators,
        f.cores,
        f.wall(args.nodes, args.validators),
        f.node_cpu(args.validators)
    );
}

fn print_ratios(f: &floor::Floor, args: &Args, wall: f64, nodes: &[NodeFigures]) {
    let cpu = median(nodes.iter().map(|n| n.cpu).collect());
    let total_cpu: f64 = nodes.iter().map(|n| n.cpu).sum();
    println!(
        "  ratio to the floor: wall {:.2}x ({wall:.2} / {:.2} s), median node CPU {:.2}x; \
         the cores were busy {:.0}% of the wall time",
        wall / f.wall(args.nodes, args.validators),
        f.wall(args.nodes, args.validators),
        cpu / f.node_cpu(args.validators),
        100.0 * total_cpu / (wall * f.cores.max(1) as f64)
    );
}

/// One ceremony with implementation `im`; returns its wall time and per-node figures.
fn ceremony(
    args: &Args,
    im: Impl,
    charon: Option<&Path>,
) -> Result<(f64, Vec<NodeFigures>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("locate own binary: {e}"))?;
    let tmp;
    let root = match &args.dir {
        Some(d) => {
            let r = d
                .join(format!("{im:?}-{}", std::process::id()))
                .join(format!(
                    "{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis())
                        .unwrap_or(0)
                ));
            std::fs::create_dir_all(&r).map_err(|e| format!("create {}: {e}", r.display()))?;
            r
        }
        None => {
            tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
            tmp.path().to_path_buf()
        }
    };
    let mut enrs = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..args.nodes {
        let d = root.join("nodes").join(format!("node{i}"));
        enrs.push(new_enr_key(&d)?.1);
        dirs.push(d);
    }
    let addr = "0x000000000000000000000000000000000000dEaD".to_string();
    let dkg_version = if args.compat.trim_start_matches('v') == "1.10" {
        "v1.10.0"
    } else {
        "v1.11.0"
    };
    let def = definition_json(&DkgArgs {
        operator_enrs: enrs,
        num_validators: args.validators,
        threshold: None,
        network: "hoodi".into(),
        fee_recipient_addresses: vec![addr.clone()],
        withdrawal_addresses: vec![addr],
        deposit_amounts: Vec::new(),
        compounding: false,
        target_gas_limit: 60_000_000,
        name: "bench".into(),
        dkg_version: dkg_version.into(),
        output_dir: root.clone(),
    })?;
    let definition = root.join("cluster-definition.json");
    std::fs::write(&definition, def).map_err(|e| e.to_string())?;
    let relay_dir = root.join("relay");
    let relay = match (args.relay, charon) {
        (RelayImpl::Charon, Some(c)) => Relay::start_charon(c, &relay_dir),
        _ => Relay::start(&exe, &relay_dir),
    }
    .map_err(|e| e.to_string())?;
    let rust_opts = NodeOptions {
        definition: definition.clone(),
        relay_url: relay.url.clone(),
        timeout: args.timeout.clone(),
        extra_args: vec![
            "--log-format".into(),
            "console".into(),
            "--compat".into(),
            args.compat.clone(),
        ]
        .into_iter()
        .chain(args.relay_only.then(|| "--p2p-relay-only".to_string()))
        .collect(),
        env: Vec::new(),
    };
    let go_opts = NodeOptions {
        extra_args: Vec::new(),
        ..rust_opts.clone()
    };
    let is_rust = |i: usize| match im {
        Impl::Rust => true,
        Impl::Charon => false,
        _ => i < args.nodes / 2,
    };
    let start = Instant::now();
    let mut nodes = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| match (is_rust(i), charon) {
            (false, Some(c)) => start_charon_node(c, i, d, &go_opts, "info"),
            _ => start_node(&exe, i, d, &rust_opts),
        })
        .collect::<Result<Vec<NodeRun>, _>>()
        .map_err(|e| e.to_string())?;
    wait_all(&mut nodes, Duration::from_secs(3600)).map_err(|e| e.to_string())?;
    let wall = start.elapsed().as_secs_f64();
    for n in &nodes {
        if !n.status.is_some_and(|s| s.success()) {
            let status = n
                .status
                .map_or("no exit status".to_string(), |s| s.to_string());
            let log = n.log_text();
            let reason = log
                .lines()
                .rev()
                .find(|l| l.contains(" ERROR "))
                .map_or(String::new(), |l| format!(": {}", l.trim()));
            return Err(format!(
                "node {} failed ({status}){reason}; log: {}",
                n.index,
                n.log.display()
            ));
        }
    }
    println!("  wall time: {wall:.2} s");
    println!(
        "  node  impl   wall s   CPU s  peak MiB  recv MiB  sent MiB  via relay MiB  (TCP payload; via relay: sent + received on the relay's sockets)"
    );
    let figures: Vec<NodeFigures> = nodes
        .iter()
        .map(|n| NodeFigures {
            rust: is_rust(n.index),
            wall: n.wall.map(|w| w.as_secs_f64()).unwrap_or(wall),
            cpu: n.cpu_secs,
            peak_mib: n.peak_rss_kib as f64 / 1024.0,
            sent_mib: mib(n.tcp_bytes().0),
            recv_mib: mib(n.tcp_bytes().1),
            relayed_mib: {
                let ((s, r), _) = n.tcp_bytes_split(&relay.ports());
                mib(s + r)
            },
            steps: n.step_figures(&relay.ports()),
        })
        .collect();
    for (n, f) in nodes.iter().zip(&figures) {
        println!(
            "  {:>4}  {:<5} {:>7.2} {:>7.2} {:>9.1} {:>9.2} {:>9.2} {:>14.2}",
            n.index,
            if f.rust { "rust" } else { "go" },
            f.wall,
            f.cpu,
            f.peak_mib,
            f.recv_mib,
            f.sent_mib,
            f.relayed_mib
        );
    }
    print_steps(&figures);
    Ok((wall, figures))
}

/// Per-step medians over our nodes (Go charon logs no step starts we read).
fn print_steps(figures: &[NodeFigures]) {
    let ours: Vec<&Vec<StepFigures>> = figures
        .iter()
        .filter(|f| f.rust && !f.steps.is_empty())
        .map(|f| &f.steps)
        .collect();
    let Some(first) = ours.first() else {
        return;
    };
    println!(
        "  per step, median over our nodes:  step   wall s    CPU s  relayed MiB  direct MiB  (sent + received)"
    );
    for s in first.iter() {
        let same: Vec<&StepFigures> = ours
            .iter()
            .filter_map(|steps| steps.iter().find(|x| x.step == s.step))
            .collect();
        let med = |f: fn(&StepFigures) -> f64| median(same.iter().map(|x| f(x)).collect());
        println!(
            "  {:>38} {:>8.3} {:>8.3} {:>12.2} {:>11.2}",
            s.step,
            med(|x| x.secs),
            med(|x| x.cpu),
            med(|x| mib(x.relayed.0 + x.relayed.1)),
            med(|x| mib(x.direct.0 + x.direct.1)),
        );
    }
}
