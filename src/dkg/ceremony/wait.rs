//! How steps wait on their peers: step barriers, and waits that fail only
//! once a needed peer has gone silent for `--timeout`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::p2p::bcast::Delivery;

use super::error::CeremonyError;
use super::progress::step_name;
use super::session::Session;

/// How often waits without a deadline check that the peers they need are alive.
pub(super) const LIVENESS_POLL: Duration = Duration::from_millis(250);
/// How often a long wait says who it is still waiting for.
const PROGRESS_LOG_EVERY: Duration = Duration::from_secs(30);

impl Session<'_> {
    /// Races `fut` against fatal sync errors reported by any peer.
    pub(super) async fn guarded<T>(
        &self,
        step: u64,
        fut: impl std::future::Future<Output = Result<T, CeremonyError>>,
    ) -> Result<T, CeremonyError> {
        let sync = self.sync.clone();
        let watch = async move {
            loop {
                if let Some(e) = sync.error() {
                    return e.to_string();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            r = fut => r,
            e = watch => Err(CeremonyError::Sync(format!("during step {step} ({}): {e}", step_name(step)))),
        }
    }

    /// Operators among `waiting` that have sent no sync message for the whole
    /// `--timeout`, counted from `since` at the earliest.
    fn silent(&self, waiting: &[usize], since: Instant) -> Vec<usize> {
        let heard = self.sync.last_heard();
        waiting
            .iter()
            .copied()
            .filter(|&p| {
                let last = heard
                    .get(p)
                    .copied()
                    .flatten()
                    .map_or(since, |h| h.max(since));
                last.elapsed() >= self.cfg.timeout
            })
            .collect()
    }

    /// The wait for `what` failed because `gone` fell silent. Other peers
    /// silent as long are named too: when a killed operator had already
    /// delivered to us, the first one we miss is a peer stuck on it, and the
    /// operator to look at is the one that went quiet first.
    fn gone(&self, step: u64, what: &str, gone: &[usize], since: Instant) -> CeremonyError {
        let others: Vec<usize> = (0..self.n())
            .filter(|i| *i != self.own() && !gone.contains(i))
            .collect();
        let also = self.silent(&others, since);
        let also = if also.is_empty() {
            String::new()
        } else {
            format!("; operator(s) {} went silent too", self.describe(&also))
        };
        self.fail(
            step,
            format!(
                "timed out waiting for {what} from operator(s) {}: nothing heard from them for {:?}{also}{}",
                self.describe(gone),
                self.cfg.timeout,
                self.isolation_hint()
            ),
        )
    }

    /// Waits for `fut` as charon does, with no deadline while the operators it
    /// still needs (`pending`) are alive: a peer busy with a long step (pbkdf2
    /// for thousands of keystores, a keymanager import, a big FROST) is waited
    /// for. One that has sent no sync message for `--timeout` is gone, and the
    /// wait fails naming it.
    pub(super) async fn while_alive<T>(
        &self,
        step: u64,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, CeremonyError>>,
        pending: impl Fn() -> Vec<usize>,
    ) -> Result<T, CeremonyError> {
        let start = Instant::now();
        let mut last_log = start;
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return r,
                () = tokio::time::sleep(LIVENESS_POLL) => {}
            }
            let waiting = pending();
            let gone = self.silent(&waiting, start);
            if !gone.is_empty() {
                return Err(self.gone(step, what, &gone, start));
            }
            if !waiting.is_empty() && last_log.elapsed() >= PROGRESS_LOG_EVERY {
                tracing::info!(
                    "Still waiting for {what} from operator(s) {}; they are connected and working",
                    self.describe(&waiting)
                );
                last_log = Instant::now();
            }
        }
    }

    /// Collects the first broadcast delivery of every other operator.
    pub(super) async fn collect_first(
        &self,
        step: u64,
        rx: &mut UnboundedReceiver<Delivery>,
        what: &str,
    ) -> Result<Vec<(usize, Delivery)>, CeremonyError> {
        // Same liveness rule as `while_alive`; inlined because the pending
        // set is the map this loop fills.
        let mut got: HashMap<usize, Delivery> = HashMap::new();
        let start = Instant::now();
        let mut last_log = start;
        while got.len() < self.n() - 1 {
            match tokio::time::timeout(LIVENESS_POLL, rx.recv()).await {
                Ok(Some(d)) => {
                    if d.sender != self.own() {
                        got.entry(d.sender).or_insert(d);
                    }
                }
                Ok(None) => return Err(self.fail(step, "broadcast channel closed")),
                Err(_) => {
                    let missing: Vec<usize> = (0..self.n())
                        .filter(|i| *i != self.own() && !got.contains_key(i))
                        .collect();
                    let gone = self.silent(&missing, start);
                    if !gone.is_empty() {
                        return Err(self.gone(step, what, &gone, start));
                    }
                    if last_log.elapsed() >= PROGRESS_LOG_EVERY {
                        tracing::info!(
                            "Still waiting for {what} from operator(s) {}; they are connected and working",
                            self.describe(&missing)
                        );
                        last_log = Instant::now();
                    }
                }
            }
        }
        let mut v: Vec<(usize, Delivery)> = got.into_iter().collect();
        v.sort_by_key(|(i, _)| *i);
        Ok(v)
    }

    /// [`Session::barrier`], then the session shared for the step's work:
    /// how every step from 1 to 6 begins.
    pub(super) async fn enter(&mut self, step: u64) -> Result<&Self, CeremonyError> {
        self.barrier(step).await?;
        Ok(self)
    }

    /// Enters `step` and waits until every peer is there (charon's barrier).
    pub(super) async fn barrier(&mut self, step: u64) -> Result<(), CeremonyError> {
        let started = Instant::now();
        // Recorded first, so an observer never sees less than peers may have.
        self.progress.announce(step);
        self.local.set_step(step as i64);
        let sync = self.sync.clone();
        let wait = async {
            sync.await_all_at_step(step as i64)
                .await
                .map_err(|e| CeremonyError::Sync(e.to_string()))
        };
        let what = format!("step {step}");
        let wait = self.while_alive(step, &what, wait, || self.sync_missing(step as i64));
        self.guarded(step, wait).await?;
        // Step timings count from the barrier's end to the next one's.
        let now = Instant::now();
        if step > 1 {
            let secs = (now - self.step_start).as_secs_f64();
            let prev = step - 1;
            self.steps.push((prev, secs));
            self.metrics.set_step_seconds(prev, secs);
            tracing::info!(step = prev, duration_s = format!("{secs:.3}"), "Step done");
        }
        self.step_start = now;
        self.metrics.set_step(step);
        tracing::info!(
            step,
            of = 8,
            waited_s = format!("{:.3}", started.elapsed().as_secs_f64()),
            "Step {step} of 8: {}",
            step_name(step)
        );
        Ok(())
    }

    fn sync_missing(&self, step: i64) -> Vec<usize> {
        self.sync
            .peer_steps()
            .into_iter()
            .enumerate()
            .filter(|(i, s)| *i != self.own() && s.is_none_or(|s| s < step))
            .map(|(i, _)| i)
            .collect()
    }
}
