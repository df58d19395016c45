//! A real execution client: `geth --dev`, built from the Go module proxy
//! through the wrapper module in `tests/interop/geth`, with a minimal
//! JSON-RPC client to deploy contracts on it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha3::{Digest, Keccak256};

use super::{GoTool, go_tool};

/// The geth binary: `$GETH_BIN`, or built once per wrapper go.mod/go.sum.
pub fn geth() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let tool = GoTool {
        wrapper: "geth",
        package: "github.com/ethereum/go-ethereum/cmd/geth",
        env: &[],
        needed_by: "the ERC-1271 tests against a real execution client build geth",
    };
    BUILT.get_or_init(|| go_tool(&tool, "GETH_BIN")).clone()
}

/// A `geth --dev` node on loopback: one unlocked, funded developer account,
/// a block mined as soon as a transaction is pending. Killed on drop.
pub struct DevGeth {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    addr: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl DevGeth {
    /// Starts a node and waits until its HTTP JSON-RPC endpoint answers.
    pub fn start() -> DevGeth {
        let bin = geth();
        let dir = tempfile::tempdir().unwrap();
        let (http, auth) = (free_port(), free_port());
        let log = dir.path().join("geth.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(["--dev", "--dev.period", "0", "--ipcdisable"])
            .args([
                "--http",
                "--http.addr",
                "127.0.0.1",
                "--http.api",
                "eth,net,web3",
            ])
            .args(["--http.port", &http.to_string()])
            .args([
                "--authrpc.addr",
                "127.0.0.1",
                "--authrpc.port",
                &auth.to_string(),
            ])
            .arg("--datadir")
            .arg(dir.path().join("data"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn geth");
        let addr = format!("127.0.0.1:{http}");
        let mut node = DevGeth {
            url: format!("http://{addr}"),
            addr,
            child,
            log,
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Some(status) = node.child.try_wait().unwrap() {
                panic!("geth exited ({status}):\n{}", node.log_text());
            }
            if node.try_rpc("eth_blockNumber", json!([])).is_ok() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "geth's HTTP endpoint never answered:\n{}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        node
    }

    /// What geth logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One JSON-RPC call over plain HTTP/1.0 (so geth answers with a length,
    /// not chunks, and closes); the `result`, or what went wrong.
    fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let body = serde_json::to_vec(&body).unwrap();
        let mut s = TcpStream::connect(&self.addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST / HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        s.write_all(&body).map_err(|e| e.to_string())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
        let resp = String::from_utf8_lossy(&resp);
        let (_, body) = resp.split_once("\r\n\r\n").ok_or("no HTTP body")?;
        let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
        match v.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(v["result"].clone()),
        }
    }

    /// A JSON-RPC call that must succeed.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}\n{}", self.log_text()))
    }

    /// The developer account (`eth_accounts[0]`).
    pub fn dev_account(&self) -> [u8; 20] {
        let accounts = self.rpc("eth_accounts", json!([]));
        parse_address(accounts[0].as_str().expect("a developer account"))
    }

    /// The address the `k`-th next contract `from` deploys will have (a
    /// CREATE address depends only on the sender and its nonce).
    pub fn next_contract_address(&self, from: &[u8; 20], k: u64) -> [u8; 20] {
        let nonce = self.rpc(
            "eth_getTransactionCount",
            json!([format!("0x{}", hex::encode(from)), "pending"]),
        );
        let nonce =
            u64::from_str_radix(nonce.as_str().unwrap().trim_start_matches("0x"), 16).unwrap() + k;
        create_address(from, nonce)
    }

    /// Deploys `init_code` from `from` and returns the new contract's
    /// address, once the transaction is mined.
    pub fn deploy(&self, from: &[u8; 20], init_code: &[u8]) -> [u8; 20] {
        let tx = self.rpc(
            "eth_sendTransaction",
            json!([{
                "from": format!("0x{}", hex::encode(from)),
                "data": format!("0x{}", hex::encode(init_code)),
                "gas": "0x100000",
            }]),
        );
        let start = Instant::now();
        loop {
            match self.try_rpc("eth_getTransactionReceipt", json!([tx])) {
                Ok(receipt) if !receipt.is_null() => {
                    assert_eq!(receipt["status"], "0x1", "deployment failed: {receipt}");
                    return parse_address(receipt["contractAddress"].as_str().unwrap());
                }
                // Not mined yet, or mined but not indexed yet.
                Ok(_) => {}
                Err(e) if e.contains("indexing is in progress") => {}
                Err(e) => panic!("eth_getTransactionReceipt failed: {e}\n{}", self.log_text()),
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "transaction {tx} never mined:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DevGeth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_address(s: &str) -> [u8; 20] {
    hex::decode(s.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

/// `keccak256(rlp([sender, nonce]))[12..]`.
pub fn create_address(sender: &[u8; 20], nonce: u64) -> [u8; 20] {
    // RLP of the nonce: 0x80 for zero, the byte itself below 0x80, else a
    // length-prefixed big-endian string.
    let be = nonce.to_be_bytes();
    let trimmed = &be[be.iter().take_while(|&&b| b == 0).count()..];
    let nonce_rlp = match trimmed {
        [] => vec![0x80],
        [b] if *b < 0x80 => vec![*b],
        bytes => [&[0x80 + bytes.len() as u8][..], bytes].concat(),
    };
    let mut rlp = vec![0xc0 + (21 + nonce_rlp.len()) as u8, 0x94];
    rlp.extend_from_slice(sender);
    rlp.extend_from_slice(&nonce_rlp);
    Keccak256::digest(&rlp)[12..].try_into().unwrap()
}
