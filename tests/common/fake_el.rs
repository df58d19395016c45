//! A local execution client that answers `eth_call` to
//! `isValidSignature(bytes32,bytes)` as contract wallets would: the magic
//! value for the (address, hash, signature) triples it was told, another
//! value for everything else. It can also misbehave (JSON-RPC errors,
//! reverts, garbage, slowness, huge answers) and records every request.
//!
//! The server runs on its own runtime so that both plain tests (which run
//! the CLI binary) and async tests can use it; the listener stays bound for
//! the server's life.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `isValidSignature(bytes32,bytes)` selector and magic value.
pub const MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As contract wallets: magic for known triples, `0xffffffff` otherwise.
    Contract,
    /// A JSON-RPC error (method not available).
    RpcError,
    /// A revert, as JSON-RPC error 3.
    Revert,
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// No answer for a minute.
    Slow,
    /// A multi-megabyte answer, streamed without a length, starting with the magic value.
    Huge,
    /// HTTP 503.
    Unavailable,
    /// A result of the magic value right-aligned (a uint, not bytes4).
    RightAligned,
}

/// A contract address, a hash and a signature.
pub type Triple = ([u8; 20], [u8; 32], Vec<u8>);

#[derive(Default)]
struct Shared {
    mode: Mutex<Option<Mode>>,
    accepted: Mutex<HashSet<Triple>>,
    requests: Mutex<Vec<Value>>,
}

/// A running fake execution client.
pub struct FakeEl {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for FakeEl {
    fn drop(&mut self) {
        // Allowed inside async tests too, unlike dropping a runtime.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl FakeEl {
    /// Starts a server in [`Mode::Contract`] that accepts nothing yet.
    pub fn start() -> FakeEl {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared::default());
        *shared.mode.lock().unwrap() = Some(Mode::Contract);
        // Bound here, synchronously, so that async tests can start one too;
        // it stays bound until the server stops.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        FakeEl {
            url,
            shared,
            rt: Some(rt),
        }
    }

    /// Changes how it answers.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
    }

    /// The contract at `address` accepts `signature` of `hash`.
    pub fn accept(&self, address: [u8; 20], hash: [u8; 32], signature: &[u8]) {
        self.shared
            .accepted
            .lock()
            .unwrap()
            .insert((address, hash, signature.to_vec()));
    }

    /// Every request body received so far (JSON, or `null` if it was not).
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }
}

fn rpc_result(result: String) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": result})).into_response()
}

fn rpc_error(code: i64, message: &str) -> Response {
    axum::Json(json!({
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": code, "message": message, "data": "0x08c379a0"}
    }))
    .into_response()
}

/// Decodes calldata strictly as the ABI encoding of
/// `isValidSignature(bytes32,bytes)`; `None` if it is anything else.
fn decode_call(data: &[u8]) -> Option<([u8; 32], Vec<u8>)> {
    if data.len() < 100 || data[..4] != MAGIC {
        return None;
    }
    let hash: [u8; 32] = data[4..36].try_into().ok()?;
    let word = |at: usize| -> Option<u64> {
        let w = data.get(at..at + 32)?;
        if w[..24].iter().any(|&b| b != 0) {
            return None;
        }
        Some(u64::from_be_bytes(w[24..].try_into().ok()?))
    };
    if word(36)? != 0x40 {
        return None;
    }
    let len = usize::try_from(word(68)?).ok()?;
    let padded = len.div_ceil(32) * 32;
    if data.len() != 100 + padded || data[100 + len..].iter().any(|&b| b != 0) {
        return None;
    }
    Some((hash, data[100..100 + len].to_vec()))
}

async fn handle(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.requests.lock().unwrap().push(req.clone());
    let mode = s.mode.lock().unwrap().unwrap_or(Mode::Contract);
    match mode {
        Mode::RpcError => {
            return rpc_error(
                -32601,
                "the method eth_call does not exist/is not available",
            );
        }
        Mode::Revert => return rpc_error(3, "execution reverted: GS026"),
        Mode::Garbage => return (StatusCode::OK, "<html>not json</html>").into_response(),
        Mode::Unavailable => {
            return (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response();
        }
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return rpc_result(format!("0x{}{}", hex::encode(MAGIC), "00".repeat(28)));
        }
        Mode::Huge => {
            let head = format!(
                r#"{{"jsonrpc":"2.0","id":1,"result":"0x{}"#,
                hex::encode(MAGIC)
            );
            // Well-formed and accepting: only a size cap refuses it.
            let chunks = std::iter::once(Ok::<_, std::io::Error>(Bytes::from(head)))
                .chain((0..64).map(|_| Ok(Bytes::from(vec![b'0'; 64 * 1024]))))
                .chain(std::iter::once(Ok(Bytes::from_static(b"\"}"))));
            return Response::new(Body::from_stream(futures::stream::iter(chunks)));
        }
        Mode::RightAligned => {
            return rpc_result(format!("0x{}{}", "00".repeat(28), hex::encode(MAGIC)));
        }
        Mode::Contract => {}
    }
    let call = req["params"][0].clone();
    let ok_shape = req["jsonrpc"] == "2.0"
        && req["method"] == "eth_call"
        && req["params"][1] == "latest"
        && req["params"].as_array().is_some_and(|p| p.len() == 2);
    let to = call["to"]
        .as_str()
        .and_then(|t| t.strip_prefix("0x"))
        .and_then(|t| hex::decode(t).ok())
        .and_then(|b| <[u8; 20]>::try_from(b).ok());
    let data = call["data"]
        .as_str()
        .and_then(|t| t.strip_prefix("0x"))
        .and_then(|t| hex::decode(t).ok())
        .and_then(|d| decode_call(&d));
    let (Some(to), Some((hash, sig)), true) = (to, data, ok_shape) else {
        return rpc_error(3, "execution reverted");
    };
    let known = s.accepted.lock().unwrap().contains(&(to, hash, sig));
    let answer = if known { MAGIC } else { [0xff; 4] };
    rpc_result(format!("0x{}{}", hex::encode(answer), "00".repeat(28)))
}

/// An endpoint that accepts connections and closes them unanswered, as a
/// crashed or misconfigured server would. It holds its port until dropped.
pub struct ClosingServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClosingServer {
    /// Starts it.
    pub fn start() -> ClosingServer {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => drop(sock),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ClosingServer {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ClosingServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
