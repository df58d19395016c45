//! Step 8: charon's shutdown handshake, so that no peer is left waiting on
//! us. It cannot fail the ceremony: the outputs are complete by then.

use std::time::{Duration, Instant};

use super::error::CeremonyError;
use super::session::Session;
use super::wait::LIVENESS_POLL;

/// How long the shutdown handshake may take (charon: 2 min).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a peer that announced its shutdown must stay disconnected before
/// its sync client stops retrying: long enough for the host's immediate
/// redial to bring back a peer that only lost a connection.
const LEFT_AFTER_SHUTDOWN: Duration = Duration::from_secs(1);

/// The sync client task towards each peer, by operator index.
pub(super) type ClientTasks = Vec<(usize, tokio::task::JoinHandle<()>)>;

/// What step 7 left to do after the handshake, handed on only by
/// [`handshake`].
pub(super) struct ShutDown<T>(T);

impl<T> ShutDown<T> {
    pub(super) fn into_inner(self) -> T {
        self.0
    }
}

/// Step 8: report it, send our shutdown to every peer and wait until each
/// has answered it (so no peer waits on us) and has sent its own.
pub(super) async fn handshake<T>(
    cx: &mut Session<'_>,
    client_tasks: ClientTasks,
    step7: T,
) -> ShutDown<T> {
    let r = tokio::time::timeout(SHUTDOWN_TIMEOUT, async {
        cx.barrier(8).await?;
        cx.local.begin_shutdown();
        let cx = &*cx;
        futures::future::join_all(
            client_tasks
                .into_iter()
                .map(|(peer, task)| client_done_or_peer_gone(cx, peer, task)),
        )
        .await;
        cx.sync
            .await_all_shutdown()
            .await
            .map_err(|e| CeremonyError::Sync(e.to_string()))
    })
    .await;
    match r {
        Ok(Ok(())) => tracing::info!("All peers shut down cleanly"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "Shutdown handshake incomplete; outputs are complete")
        }
        Err(_) => tracing::warn!("Shutdown handshake timed out; outputs are complete"),
    }
    ShutDown(step7)
}

/// Waits for the sync client towards `peer` to deliver our shutdown, or
/// stops it once the peer has announced step 8 and stayed disconnected
/// for [`LEFT_AFTER_SHUTDOWN`]: a peer only leaves after its own handshake
/// completed (or timed out), so retrying towards it (each attempt a full
/// stream-open timeout) would only delay our exit by tens of seconds.
async fn client_done_or_peer_gone(
    cx: &Session<'_>,
    peer: usize,
    mut task: tokio::task::JoinHandle<()>,
) {
    let Some(id) = cx.peers.ids.get(peer).copied() else {
        let _ = task.await;
        return;
    };
    let mut gone_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = &mut task => return,
            () = tokio::time::sleep(LIVENESS_POLL) => {}
        }
        let announced = cx
            .sync
            .peer_steps()
            .get(peer)
            .copied()
            .flatten()
            .is_some_and(|s| s >= 8);
        let left = announced && !cx.net.host.connected_peers().contains(&id);
        match gone_since {
            _ if !left => gone_since = None,
            None => gone_since = Some(Instant::now()),
            Some(t) if t.elapsed() >= LEFT_AFTER_SHUTDOWN => {
                task.abort();
                tracing::debug!(
                    operator = peer,
                    "Operator {peer} has left after its shutdown handshake; not retrying ours"
                );
                return;
            }
            Some(_) => {}
        }
    }
}
