//! Transport-independent request helpers over any byte stream, mirroring
//! charon's `p2p.Send`, `p2p.SendReceive` and `p2p.RegisterHandler`.
//! libp2p streams (via `libp2p-stream`) implement the futures I/O traits, so
//! the host plugs in by implementing [`OpenStream`].
//!
//! Ending streams the way Go peers need (charon spec §10.2): rust-yamux
//! (0.14) sends RST, not FIN, for a stream dropped while its write side is
//! still open, and go-yamux discards buffered unread data on RST, so a one-way
//! message followed by a plain drop can vanish. Always finish streams through
//! these helpers (or call `close()` yourself) before dropping them.

use std::future::Future;
use std::io;
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt};
use prost::{Message, Name};

use super::frame::{FrameError, read_delimited, read_msg, write_delimited};
use super::proto::CheckPresent;

/// Opens outbound streams to cluster peers, addressed by operator index.
pub trait OpenStream: Send + Sync {
    /// Stream type (a libp2p stream in production, an in-memory pipe in tests).
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Opens a stream to operator `peer` speaking `protocol`.
    fn open(
        &self,
        peer: usize,
        protocol: &'static str,
    ) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

/// Timeout and retry budget of an outbound send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendPolicy {
    /// Deadline of one attempt (open, write, and any response read).
    pub timeout: Duration,
    /// Total attempts (at least 1).
    pub attempts: u32,
    /// Pause between attempts.
    pub retry_delay: Duration,
}

impl SendPolicy {
    /// charon's default send deadline (5 s + 2 s), with two retries.
    pub const DEFAULT: SendPolicy = SendPolicy {
        timeout: Duration::from_secs(7),
        attempts: 3,
        retry_delay: Duration::from_millis(100),
    };
    /// bcast `/msg`: the receiver's callback may wait up to 60 s.
    pub const BCAST_MSG: SendPolicy = SendPolicy {
        timeout: Duration::from_secs(62),
        attempts: 3,
        retry_delay: Duration::from_millis(500),
    };
}

/// Writes one delimited message and closes the write side with FIN. Never
/// drops the stream before the close completes (a reset can discard data).
pub async fn send_oneway<S: AsyncWrite + Unpin>(
    stream: &mut S,
    body: &[u8],
) -> Result<(), FrameError> {
    write_delimited(stream, body).await?;
    stream.close().await?;
    Ok(())
}

/// Like [`send_oneway`], then waits for charon's empty-message delivery
/// acknowledgement. `Ok(true)`: the peer processed it; `Ok(false)`: the peer
/// closed without acknowledging (rejected, or a handler that never answers).
pub async fn send_with_ack<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    body: &[u8],
) -> Result<bool, FrameError> {
    send_oneway(stream, body).await?;
    match read_delimited(stream, 0).await {
        Ok(_) => Ok(true),
        Err(FrameError::Closed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes a request, closes the write side and reads one response.
pub async fn send_receive<S, Resp>(
    stream: &mut S,
    request: &[u8],
    max: usize,
) -> Result<Resp, FrameError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    Resp: Message + Default + Name + CheckPresent,
{
    send_oneway(stream, request).await?;
    read_msg(stream, max).await
}

/// Writes the empty delimited message charon's handlers send for a nil
/// response, then closes. A failed write is not an error for the caller.
pub async fn write_ack<S: AsyncWrite + Unpin>(stream: &mut S) {
    let _ = write_delimited(stream, &[]).await;
    let _ = stream.close().await;
}

/// Runs `attempt` up to `policy.attempts` times with the per-attempt timeout,
/// returning the first success or the last error.
pub async fn with_retries<T, E, F, Fut>(
    policy: &SendPolicy,
    mut attempt: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = policy.attempts.max(1);
    let mut last = RetryError::Timeout;
    for i in 0..attempts {
        if i > 0 {
            tokio::time::sleep(policy.retry_delay).await;
        }
        match tokio::time::timeout(policy.timeout, attempt()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => last = RetryError::Failed(e),
            Err(_) => last = RetryError::Timeout,
        }
    }
    Err(last)
}

/// Outcome of a send that exhausted its retries.
#[derive(Debug, thiserror::Error)]
pub enum RetryError<E> {
    /// The last attempt hit the deadline.
    #[error("timed out")]
    Timeout,
    /// The last attempt failed.
    #[error("{0}")]
    Failed(E),
}

/// Largest trailing response [`close_and_drain`] collects.
pub const MAX_TRAILER: usize = 1 << 20;

/// Closes the write side (yamux FIN) and waits, up to `timeout`, for the
/// remote to close its side, returning whatever it wrote meanwhile (e.g. the
/// single `0x00` delivery acknowledgement of bcast `/msg`). A remote that
/// writes more than [`MAX_TRAILER`] bytes is an error.
pub async fn close_and_drain<S>(stream: &mut S, timeout: Duration) -> io::Result<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.close().await?;
    let mut trailer = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, io::Error>(());
            }
            if trailer.len() + n > MAX_TRAILER {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "peer wrote more than expected after our close",
                ));
            }
            trailer.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(res) => res.map(|()| trailer),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "peer did not close the stream in time",
        )),
    }
}

/// Writes one message and finishes the stream with [`close_and_drain`].
pub async fn send_once<S>(stream: &mut S, msg: &[u8], timeout: Duration) -> io::Result<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(msg).await?;
    stream.flush().await?;
    close_and_drain(stream, timeout).await
}
