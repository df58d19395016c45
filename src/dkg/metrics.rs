//! Ceremony monitoring: Prometheus metrics, `/livez` and `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of the per-step duration gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct StepLabel {
    /// Step number, 1 to 8.
    pub step: u64,
}

/// The ceremony's metrics, shared between the ceremony and the HTTP server.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    step: Gauge,
    peers_connected: Gauge,
    peers_total: Gauge,
    validators_done: Gauge,
    bytes_sent: Counter,
    step_seconds: Family<StepLabel, Gauge<f64, AtomicU64>>,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every ceremony metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dkg");
        let step = Gauge::default();
        let peers_connected = Gauge::default();
        let peers_total = Gauge::default();
        let validators_done = Gauge::default();
        let bytes_sent = Counter::default();
        let step_seconds = Family::<StepLabel, Gauge<f64, AtomicU64>>::default();
        registry.register("step", "Current ceremony step (1-8)", step.clone());
        registry.register(
            "peers_connected",
            "Cluster peers connected",
            peers_connected.clone(),
        );
        registry.register(
            "peers_total",
            "Cluster peers other than this node",
            peers_total.clone(),
        );
        registry.register(
            "validators_done",
            "Validators whose key generation finished",
            validators_done.clone(),
        );
        registry.register(
            "sent_bytes",
            "Bytes sent on DKG protocols",
            bytes_sent.clone(),
        );
        registry.register(
            "step_duration_seconds",
            "Wall time each finished step took",
            step_seconds.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                step,
                peers_connected,
                peers_total,
                validators_done,
                bytes_sent,
                step_seconds,
                ready: AtomicBool::new(false),
            }),
        }
    }

    /// Records entering step `n`.
    pub fn set_step(&self, n: u64) {
        self.inner.step.set(n as i64);
    }
    /// Records connected peers out of the total.
    pub fn set_peers(&self, connected: usize, total: usize) {
        self.inner.peers_connected.set(connected as i64);
        self.inner.peers_total.set(total as i64);
    }
    /// Records finished validators.
    pub fn set_validators_done(&self, n: usize) {
        self.inner.validators_done.set(n as i64);
    }
    /// Adds sent bytes.
    pub fn add_bytes_sent(&self, n: u64) {
        self.inner.bytes_sent.inc_by(n);
    }
    /// Records how long step `n` took.
    pub fn set_step_seconds(&self, n: u64, secs: f64) {
        self.inner
            .step_seconds
            .get_or_create(&StepLabel { step: n })
            .set(secs);
    }
    /// Marks the node ready (all peers connected).
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }

    /// The text exposition of all metrics.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut s, &self.inner.registry);
        s
    }

    /// Serves `/metrics`, `/livez` and `/readyz` on `addr` until the task is dropped.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<tokio::task::JoinHandle<()>> {
        use axum::http::StatusCode;
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let m1 = self.clone();
        let m2 = self.clone();
        let app = axum::Router::new()
            .route("/metrics", get(move || async move { m1.encode() }))
            .route("/livez", get(|| async { "ok" }))
            .route(
                "/readyz",
                get(move || async move {
                    if m2.inner.ready.load(Ordering::Relaxed) {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "waiting for peers")
                    }
                }),
            );
        Ok(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_step_and_peers() {
        let m = Metrics::new();
        m.set_step(3);
        m.set_peers(2, 3);
        m.set_step_seconds(1, 1.5);
        let t = m.encode();
        assert!(t.contains("dkg_step 3"), "{t}");
        assert!(t.contains("dkg_peers_connected 2"), "{t}");
        assert!(
            t.contains("dkg_step_duration_seconds{step=\"1\"} 1.5"),
            "{t}"
        );
    }
}
