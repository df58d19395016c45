//! The ceremony itself: charon dkg's steps 1-8 over libp2p.
//!
//! Each step is a function from the previous step's result to its own, so
//! the order below is the only one that compiles. Before step 1 every peer
//! connects; step 1 runs FROST for every validator, steps 2-4 exchange
//! partial BLS signatures (deposits per amount, builder registrations, the
//! lock hash), step 5 exchanges node signatures, step 6 verifies the lock
//! and stages the outputs, step 7 commits them once every peer has passed
//! step 6, and step 8 is charon's shutdown handshake.

mod commit;
mod config;
mod connect;
mod error;
mod exchange;
mod keygen;
mod node_sigs;
mod progress;
mod session;
mod setup;
mod shutdown;
mod signatures;
mod stage;
mod wait;

use std::sync::Arc;

use crate::dkg::metrics::Metrics;
use crate::dkg::preflight::Checked;
use crate::p2p::sync::SyncClient;

pub use self::config::{CeremonyConfig, Fault, Outcome};
pub use self::error::CeremonyError;
pub use self::progress::{Progress, ProgressState, STEPS, step_name};
use self::session::Session;
use self::setup::{Inbox, Started};
use self::shutdown::ClientTasks;

/// Runs the whole ceremony. Returns only after the outputs are in place.
pub async fn run(
    cfg: &CeremonyConfig,
    checked: &Checked,
    metrics: &Metrics,
) -> Result<Outcome, CeremonyError> {
    run_with_progress(cfg, checked, metrics, &Progress::default()).await
}

/// [`run`], reporting into `progress` (which should be fresh) how far it got.
pub async fn run_with_progress(
    cfg: &CeremonyConfig,
    checked: &Checked,
    metrics: &Metrics,
    progress: &Progress,
) -> Result<Outcome, CeremonyError> {
    let Started {
        mut session,
        clients,
        client_tasks,
        inbox,
        background,
    } = setup::start(cfg, checked, metrics, progress).await?;
    let result = steps(&mut session, &clients, client_tasks, inbox).await;
    background.stop(&session.net.host).await;
    result
}

/// Steps 1-8 in order.
async fn steps(
    cx: &mut Session<'_>,
    clients: &[Arc<SyncClient>],
    client_tasks: ClientTasks,
    inbox: Inbox,
) -> Result<Outcome, CeremonyError> {
    let connected = connect::all_peers(cx, clients).await?;
    let keys = keygen::generate(cx, connected, inbox.round1, inbox.round2).await?;
    let keystores = stage::encrypt_keystores(cx.cfg, &keys);
    let deposited = signatures::deposit_data(cx, keys).await?;
    let registered = signatures::builder_registrations(cx, deposited).await?;
    let signed = signatures::lock_hash(cx, registered).await?;
    let endorsed = node_sigs::exchange(cx, signed, inbox.node_sigs).await?;
    let staged = stage::verify_and_stage(cx, endorsed, keystores).await?;
    let written = commit::write(cx, staged).await?;
    let shut_down = shutdown::handshake(cx, client_tasks, written).await;
    commit::finish(cx, shut_down).await
}
