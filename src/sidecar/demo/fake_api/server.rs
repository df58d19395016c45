//! The running fake API: start-up, shutdown, and what tests set and read.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::routes::router;
use super::state::{FakeApiOptions, Shared, Store, lower};
use crate::sidecar::select::config_hash;

/// A running fake Obol API.
pub struct FakeApi {
    addr: SocketAddr,
    url: Url,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApi").field("addr", &self.addr).finish()
    }
}

impl FakeApi {
    /// Starts the fake on an ephemeral port of 127.0.0.1.
    pub async fn start(opts: FakeApiOptions) -> std::io::Result<FakeApi> {
        Self::start_on(opts, 0).await
    }

    /// Starts the fake on `port` of 127.0.0.1 (0 picks a free port).
    pub async fn start_on(opts: FakeApiOptions, port: u16) -> std::io::Result<FakeApi> {
        let shared = Shared {
            opts: Arc::new(opts),
            store: Arc::new(Mutex::new(Store::default())),
        };
        let app = router(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("fake Obol API stopped: {e}");
            }
        });
        Ok(FakeApi {
            addr,
            url,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:1234/`.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// Stores a definition directly (as if created earlier), replacing one with
    /// the same config hash.
    pub fn put_definition(&self, def: Value) {
        let mut s = self.shared.lock();
        match config_hash(&def).and_then(|h| s.position(&h)) {
            Some(i) => s.definitions[i] = def,
            None => s.definitions.push(def),
        }
    }

    /// Stores a lock directly (as if published earlier, bypassing the
    /// request body limit of `POST /lock`).
    pub fn put_lock(&self, lock: Value) {
        self.shared.lock().locks.push(lock);
    }

    /// Fault injection: a misbehaving API that lists `def` for every operator
    /// address, even one it does not name (the real API filters by address).
    pub fn list_for_every_operator(&self, def: Value) {
        self.shared.lock().listed_for_all.push(def);
    }

    /// The stored definition with this config hash.
    pub fn definition(&self, config_hash_hex: &str) -> Option<Value> {
        let s = self.shared.lock();
        s.position(&lower(config_hash_hex))
            .map(|i| s.definitions[i].clone())
    }

    /// Marks an address as having accepted the terms and conditions.
    pub fn accept_terms_for(&self, address: &str) {
        self.shared.lock().terms.insert(lower(address));
    }

    /// Whether an address has accepted the terms and conditions.
    pub fn terms_signed(&self, address: &str) -> bool {
        self.shared.lock().terms.contains(&lower(address))
    }

    /// Published locks, in order.
    pub fn locks(&self) -> Vec<Value> {
        self.shared.lock().locks.clone()
    }

    /// Answers the next `n` requests with HTTP `status` (e.g. 500).
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut s = self.shared.lock();
        s.knobs.fail_next = n;
        s.knobs.fail_status = status;
    }

    /// Delays the next `n` requests by `d` before answering.
    pub fn stall_next(&self, n: u32, d: Duration) {
        let mut s = self.shared.lock();
        s.knobs.stall_next = n;
        s.knobs.stall_for = d;
    }

    /// Answers the next `n` requests with 200 and a body that is not JSON.
    pub fn malformed_next(&self, n: u32) {
        self.shared.lock().knobs.malformed_next = n;
    }

    /// Every request so far as `"METHOD /path?query"`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
