//! The `bench` subcommand: a full local ceremony (one relay, n `dkg` node
//! processes on loopback) timed per step, with each node's peak memory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::create::{DkgArgs, definition_json, new_enr_key};
use super::localnet::{NodeOptions, Relay, start_node, wait_all};

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

fn bench(args: &Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("locate own binary: {e}"))?;
    let tmp;
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
            tmp.path().to_path_buf()
        }
    };
    let mut enrs = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..args.nodes {
        let d = root.join(format!("node{i}"));
        enrs.push(new_enr_key(&d)?.1);
        dirs.push(d);
    }
    let addr = "0x000000000000000000000000000000000000dEaD".to_string();
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
        dkg_version: "v1.11.0".into(),
        output_dir: root.clone(),
    })?;
    let definition = root.join("cluster-definition.json");
    std::fs::write(&definition, def).map_err(|e| e.to_string())?;
    let relay = Relay::start(&exe, &root.join("relay")).map_err(|e| e.to_string())?;
    let opts = NodeOptions {
        definition,
        relay_url: relay.url.clone(),
        timeout: args.timeout.clone(),
        extra_args: vec!["--log-format".into(), "console".into()],
        env: Vec::new(),
    };
    println!(
        "Ceremony: {} nodes x {} validators (each node a separate process, loopback relay)",
        args.nodes, args.validators
    );
    let start = Instant::now();
    let mut nodes = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| start_node(&exe, i, d, &opts))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    wait_all(&mut nodes, Duration::from_secs(3600)).map_err(|e| e.to_string())?;
    let wall = start.elapsed().as_secs_f64();
    for n in &nodes {
        if !n.status.is_some_and(|s| s.success()) {
            return Err(format!(
                "node {} failed ({:?}); log: {}",
                n.index,
                n.status,
                n.log.display()
            ));
        }
    }
    println!("Wall time: {wall:.2} s");
    println!("Per step (seconds, node 0 / max over nodes):");
    let per: Vec<Vec<(u32, f64)>> = nodes.iter().map(|n| n.step_durations()).collect();
    for (step, secs) in per.first().cloned().unwrap_or_default() {
        let max = per
            .iter()
            .filter_map(|p| p.iter().find(|(s, _)| *s == step).map(|(_, d)| *d))
            .fold(0.0f64, f64::max);
        println!("  step {step}: {secs:.3} / {max:.3}");
    }
    println!("Peak memory (VmHWM) per node:");
    for n in &nodes {
        println!(
            "  node {}: {:.1} MiB",
            n.index,
            n.peak_rss_kib as f64 / 1024.0
        );
    }
    Ok(())
}
