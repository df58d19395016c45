//! Charon's first step: every peer connected, both sync directions up (the
//! sync handshake checks that we all have the same definition hash).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::p2p::sync::SyncClient;

use super::error::CeremonyError;
use super::session::Session;

/// Every peer is connected and speaks sync with us.
pub(super) struct Connected(());

/// Waits until every peer is connected both ways, for at most `--timeout`.
pub(super) async fn all_peers(
    cx: &Session<'_>,
    clients: &[Arc<SyncClient>],
) -> Result<Connected, CeremonyError> {
    await_connected(cx, clients).await?;
    cx.metrics.set_ready(true);
    Ok(Connected(()))
}

/// With every byte on the relay, refuses a ceremony the relays' circuits
/// cannot carry as soon as their reservations state a limit, rather than
/// after minutes of work when a relay resets a circuit. A relay without a
/// stated limit, or any relay with room, lets it go ahead.
fn check_relay_budget(cx: &Session<'_>) -> Result<(), CeremonyError> {
    let limits = cx.net.host.circuit_limits();
    // `None` as soon as one relay states no limit; then also for no relay.
    let roomiest = limits
        .iter()
        .map(|(r, l)| Some((r, (*l)?)))
        .collect::<Option<Vec<_>>>()
        .and_then(|all| all.into_iter().max_by_key(|(_, l)| *l));
    let Some((relay, limit)) = roomiest else {
        return Ok(());
    };
    let def = &cx.checked.definition;
    let validators = usize::try_from(def.num_validators).unwrap_or(usize::MAX);
    let threshold = usize::try_from(def.threshold).unwrap_or(usize::MAX);
    crate::dkg::relay_budget::check(&relay.to_string(), limit, validators, threshold)?;
    Ok(())
}

async fn await_connected(
    cx: &Session<'_>,
    clients: &[Arc<SyncClient>],
) -> Result<(), CeremonyError> {
    let total = cx.n() - 1;
    let deadline = Instant::now() + cx.cfg.timeout;
    let mut last_logged = usize::MAX;
    let mut last_log_at = Instant::now();
    // Peers seen at some point: when one leaves again (typically because its
    // own timeout fired first) it is named after the ones never seen, which
    // are the real cause.
    let mut seen = vec![false; cx.n()];
    loop {
        if let Some(e) = cx.sync.error() {
            return Err(CeremonyError::Sync(e.to_string()));
        }
        if cx.cfg.relay_only {
            check_relay_budget(cx)?;
        }
        let server_seen = cx.sync.connected_peers();
        let mut missing: Vec<usize> = Vec::new();
        for i in (0..cx.n()).filter(|&i| i != cx.own()) {
            let client_up = clients
                .iter()
                .find(|c| c.peer() == i)
                .is_some_and(|c| c.is_connected());
            if client_up && server_seen.contains(&i) {
                seen[i] = true;
            } else {
                missing.push(i);
            }
        }
        missing.sort_by_key(|&i| seen[i]);
        let connected = total - missing.len();
        cx.metrics.set_peers(connected, total);
        if missing.is_empty() {
            tracing::info!("All {total} peers connected");
            return Ok(());
        }
        if connected != last_logged || last_log_at.elapsed() > Duration::from_secs(10) {
            tracing::info!(
                "Peers connected: {connected} of {total}; waiting for operator(s) {}",
                cx.describe(&missing)
            );
            last_logged = connected;
            last_log_at = Instant::now();
        }
        if Instant::now() > deadline {
            let described: Vec<String> = missing
                .iter()
                .map(|&i| {
                    let d = cx.describe(&[i]);
                    if seen[i] {
                        format!("{d} [left after connecting]")
                    } else {
                        d
                    }
                })
                .collect();
            return Err(CeremonyError::Connect {
                timeout: cx.cfg.timeout,
                missing: described.join(", "),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
