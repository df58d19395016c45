//! Constants, framing, and the version and step rules of the sync protocol.

use std::time::Duration;

use futures::io::AsyncRead;
use k256::ecdsa::SigningKey;

use crate::p2p::frame::{FrameError, read_sized_max};
use crate::p2p::k1sig::{K1Error, sign_der};
use crate::p2p::limits::MAX_SYNC_MESSAGE;
use crate::p2p::protocols::Compat;

/// Interval between client requests.
pub const SYNC_PERIOD: Duration = Duration::from_millis(100);
/// Longest pause between client reconnection attempts.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// The "shutdown ready" step reported before `shutdown = true`.
pub const SHUTDOWN_STEP: i64 = 8;
/// Longest wait for a peer's next sync frame. Peers send one every 100 ms, so
/// a stream silent this long is dead or hostile; ending it frees its task (a
/// live peer just reconnects).
pub const SYNC_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest nickname charon accepts.
pub const MAX_NICKNAME_LEN: usize = 32;

/// Error text a server sends (and sets locally) when a peer's step history is
/// inconsistent, e.g. because it restarted mid-ceremony.
pub const RESTART_ERROR: &str = "detected inconsistent peer sync state (node restarted mid-ceremony), ceremony aborted: all operators must stop charon and restart the ceremony together";

/// Longest piece of peer-controlled text (error replies, versions) kept in
/// errors and logs; a sync frame can carry 32 MiB.
pub const MAX_PEER_TEXT: usize = 512;

/// `s` made safe for one log line: cut to [`MAX_PEER_TEXT`] characters and
/// control characters (forged newlines, terminal escapes) replaced.
pub fn peer_text(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_PEER_TEXT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_PEER_TEXT).is_some() {
        out.push('…');
    }
    out
}

/// Parses a charon version (`v1.11`, `v1.11.3`, `v1.11-dev`) into
/// `(major, minor)`, following charon's version pattern.
pub fn parse_version(v: &str) -> Option<(u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    if pre.is_some_and(str::is_empty) {
        return None;
    }
    let mut parts = core.split('.');
    let num = |s: Option<&str>| -> Option<u64> {
        let s = s?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let major = num(parts.next())?;
    let minor = num(parts.next())?;
    if let Some(patch) = parts.next() {
        num(Some(patch))?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor))
}

/// Checks a peer's version against ours: major and minor must be equal.
pub fn check_version(own: Compat, theirs: &str) -> Result<(), String> {
    let own_str = own.minor_version();
    let Some(parsed) = parse_version(theirs) else {
        return Err(format!(
            "parse peer version: invalid version {:?}",
            peer_text(theirs)
        ));
    };
    if Some(parsed) != parse_version(own_str) {
        return Err(format!(
            "mismatching charon version; expect={own_str}, got={}",
            peer_text(theirs)
        ));
    }
    Ok(())
}

/// Next step in a peer's history, per charon's restart detection: the first
/// step is 0 or 1, later ones never go back and jump at most 2.
pub fn next_peer_step(last: Option<i64>, step: i64) -> Result<i64, String> {
    match last {
        None if step == 0 || step == 1 => Ok(step),
        None => Err(format!(
            "peer reported abnormal initial step {step}, expected 0 or 1"
        )),
        Some(last) if step < last => Err(format!(
            "peer reported step is behind the last known step ({step} < {last})"
        )),
        Some(last) if step > last.saturating_add(2) => Err(format!(
            "peer reported step is ahead the last known step ({step} > {last} + 2)"
        )),
        Some(_) => Ok(step),
    }
}

/// The `hash_signature` of our sync messages: DER ECDSA over
/// `sha256(definition_hash)` by the ENR key. Computed once.
pub fn definition_hash_signature(
    key: &SigningKey,
    definition_hash: &[u8; 32],
) -> Result<Vec<u8>, K1Error> {
    sign_der(key, definition_hash)
}

/// Reads one sync frame of at most [`MAX_SYNC_MESSAGE`] bytes within
/// [`SYNC_READ_TIMEOUT`].
pub(super) async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<Vec<u8>, FrameError> {
    tokio::time::timeout(SYNC_READ_TIMEOUT, read_sized_max(stream, MAX_SYNC_MESSAGE))
        .await
        .unwrap_or_else(|_| {
            Err(FrameError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no sync message within {SYNC_READ_TIMEOUT:?}"),
            )))
        })
}
