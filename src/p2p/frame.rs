//! Stream framing: go-msgio varint-delimited messages (every protocol but
//! sync) and the 8-byte little-endian length prefix of the sync protocol.
//!
//! Readers never trust an announced length for allocation: the body buffer
//! grows only as bytes actually arrive, so a peer announcing 128 MiB and
//! sending nothing costs nothing.

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use prost::{Message, Name};

use super::proto::{CheckPresent, ProtoError, decode_checked};

/// Largest delimited message charon reads (`maxMsgSize`, 128 MiB).
pub const MAX_DELIMITED_SIZE: usize = 128 << 20;
/// Largest peerinfo message charon reads (1 MiB).
pub const MAX_PEERINFO_SIZE: usize = 1 << 20;
/// Largest sync message (`maxMessageSize`, 32 MiB); the smallest is 1 byte.
pub const MAX_SYNC_SIZE: usize = 32 << 20;

/// Longest varint go-varint accepts (63-bit values).
const MAX_VARINT_LEN: usize = 9;
/// Body read granularity; bounds allocation ahead of received data.
const READ_CHUNK: usize = 64 * 1024;

/// Framing failure.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream ended cleanly before the first byte of a frame.
    #[error("stream closed before a message arrived")]
    Closed,
    /// The stream ended inside a frame.
    #[error("stream ended inside a message ({got} of {want} bytes)")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes announced.
        want: usize,
    },
    /// A varint prefix is not minimally encoded or too long.
    #[error("invalid varint length prefix")]
    BadVarint,
    /// The announced size is outside the protocol's limits.
    #[error("invalid message size {size} (allowed {min}..={max})")]
    Size {
        /// Announced or attempted size.
        size: u64,
        /// Minimum allowed.
        min: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// Transport error.
    #[error("stream i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The body is not the expected protobuf message.
    #[error(transparent)]
    Proto(#[from] ProtoError),
}

/// Minimal unsigned LEB128 encoding of `len`.
pub fn varint_prefix(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_VARINT_LEN);
    let mut v = len as u64;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Builds a full delimited frame (prefix and body in one buffer).
pub fn delimited_frame(body: &[u8]) -> Vec<u8> {
    let mut out = varint_prefix(body.len());
    out.extend_from_slice(body);
    out
}

/// Builds a full sync frame. Zero-length and oversize bodies are refused
/// because Go's reader rejects them.
pub fn sync_frame(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    check_size(body.len() as u64, 1, MAX_SYNC_SIZE)?;
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(body.len() as i64).to_le_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

fn check_size(size: u64, min: usize, max: usize) -> Result<usize, FrameError> {
    match usize::try_from(size) {
        Ok(s) if s >= min && s <= max => Ok(s),
        _ => Err(FrameError::Size { size, min, max }),
    }
}

/// Writes one delimited message in a single write and flushes.
pub async fn write_delimited<W: AsyncWrite + Unpin>(
    w: &mut W,
    body: &[u8],
) -> Result<(), FrameError> {
    if body.len() > MAX_DELIMITED_SIZE {
        return Err(FrameError::Size {
            size: body.len() as u64,
            min: 0,
            max: MAX_DELIMITED_SIZE,
        });
    }
    w.write_all(&delimited_frame(body)).await?;
    w.flush().await?;
    Ok(())
}

/// Encodes and writes one protobuf message, delimited.
pub async fn write_msg<W: AsyncWrite + Unpin, M: Message>(
    w: &mut W,
    msg: &M,
) -> Result<(), FrameError> {
    write_delimited(w, &msg.encode_to_vec()).await
}

/// Reads one varint-delimited message of at most `max` bytes.
/// A stream that ends before the first prefix byte yields [`FrameError::Closed`].
pub async fn read_delimited<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    let len = read_varint(r).await?;
    let len = check_size(len, 0, max)?;
    read_body(r, len).await
}

/// Reads one delimited protobuf message and applies the presence check.
pub async fn read_msg<R, M>(r: &mut R, max: usize) -> Result<M, FrameError>
where
    R: AsyncRead + Unpin,
    M: Message + Default + Name + CheckPresent,
{
    let body = read_delimited(r, max).await?;
    Ok(decode_checked(&body)?)
}

/// Writes one sync frame (8-byte LE length + body) in a single write: Go reads
/// the body with one `Read` call.
pub async fn write_sized<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), FrameError> {
    w.write_all(&sync_frame(body)?).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one sync frame; sizes outside `1..=32 MiB` are refused before any
/// body byte is read.
pub async fn read_sized<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    read_sized_max(r, MAX_SYNC_SIZE).await
}

/// [`read_sized`] with a tighter bound than Go's 32 MiB.
pub async fn read_sized_max<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    let max = max.min(MAX_SYNC_SIZE);
    let mut prefix = [0u8; 8];
    let mut got = 0;
    while got < prefix.len() {
        let n = r.read(&mut prefix[got..]).await?;
        if n == 0 {
            return Err(if got == 0 {
                FrameError::Closed
            } else {
                FrameError::Truncated { got, want: 8 }
            });
        }
        got += n;
    }
    let size = i64::from_le_bytes(prefix);
    let len = match u64::try_from(size) {
        Ok(s) => check_size(s, 1, max)?,
        Err(_) => {
            return Err(FrameError::Size {
                size: size as u64,
                min: 1,
                max,
            });
        }
    };
    read_body(r, len).await
}

async fn read_varint<R: AsyncRead + Unpin>(r: &mut R) -> Result<u64, FrameError> {
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_LEN {
        let mut byte = [0u8; 1];
        if r.read(&mut byte).await? == 0 {
            return Err(if i == 0 {
                FrameError::Closed
            } else {
                FrameError::Truncated {
                    got: i,
                    want: i + 1,
                }
            });
        }
        let b = byte[0];
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // A final zero byte after the first one means a redundant,
            // non-minimal encoding, which go-varint refuses.
            if b == 0 && i > 0 {
                return Err(FrameError::BadVarint);
            }
            return Ok(value);
        }
    }
    Err(FrameError::BadVarint)
}

async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> Result<Vec<u8>, FrameError> {
    let mut body = Vec::with_capacity(len.min(READ_CHUNK));
    while body.len() < len {
        let start = body.len();
        let step = (len - start).min(READ_CHUNK);
        body.resize(start + step, 0);
        let n = r.read(&mut body[start..]).await?;
        body.truncate(start + n);
        if n == 0 {
            return Err(FrameError::Truncated {
                got: start,
                want: len,
            });
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    #[test]
    fn varint_prefixes_are_minimal_and_round_trip() {
        for len in [
            0usize, 1, 127, 128, 255, 300, 16383, 16384, 2097151, 2097152, 134217728,
        ] {
            let frame = varint_prefix(len);
            let mut cur = Cursor::new(frame);
            assert_eq!(block_on(read_varint(&mut cur)).unwrap(), len as u64);
        }
    }

    #[test]
    fn non_minimal_varints_are_refused() {
        for bad in [vec![0x80, 0x00], vec![0x81, 0x00], vec![0xff, 0x80, 0x00]] {
            let mut cur = Cursor::new(bad);
            assert!(matches!(
                block_on(read_varint(&mut cur)),
                Err(FrameError::BadVarint)
            ));
        }
        let mut cur = Cursor::new(vec![0xff; 12]);
        assert!(matches!(
            block_on(read_varint(&mut cur)),
            Err(FrameError::BadVarint)
        ));
    }
}
