//! Ending streams the way Go peers need (charon spec §10.2).
//!
//! rust-yamux (0.14) sends RST, not FIN, for a stream dropped while its write
//! side is still open, and go-yamux discards buffered unread data on RST, so a
//! one-way message followed by a plain drop can vanish. Always finish streams
//! through these helpers (or call `close()` yourself) before dropping them.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

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
