//! The `/sig` and `/msg` stream handlers.

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::p2p::frame::{FrameError, read_delimited, write_msg};
use crate::p2p::limits::scan_bcast_message;
use crate::p2p::proto::decode_checked;
use crate::p2p::proto::dkgpb::{BCastMessage, BCastSigRequest, BCastSigResponse};
use crate::p2p::stream::write_ack;

use super::endpoint::Bcast;
use super::error::BcastError;

/// Wraps a stream or framing failure with the operator it came from.
fn stream_err(sender: usize) -> impl Fn(FrameError) -> BcastError + Copy {
    move |source| BcastError::Stream {
        peer: sender,
        source,
    }
}

impl Bcast {
    /// Reads one length-delimited request from operator `sender`.
    async fn read_request<S>(&self, sender: usize, stream: &mut S) -> Result<Vec<u8>, BcastError>
    where
        S: AsyncRead + Unpin,
    {
        read_delimited(stream, self.max_read())
            .await
            .map_err(stream_err(sender))
    }

    /// Serves one inbound `/sig` stream from operator `sender`. On refusal the
    /// stream is closed without a response, as charon does.
    pub async fn serve_sig<S>(&self, sender: usize, stream: &mut S) -> Result<(), BcastError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let stream_err = stream_err(sender);
        let body = self.read_request(sender, stream).await?;
        let req: BCastSigRequest =
            decode_checked(&body).map_err(|e| stream_err(FrameError::Proto(e)))?;
        let any = req.message.unwrap_or_default();
        let sig = match self.co_sign(sender, &req.id, &any) {
            Ok(sig) => sig,
            Err(e) => {
                let _ = stream.close().await;
                return Err(e);
            }
        };
        let resp = BCastSigResponse {
            id: req.id,
            signature: sig.to_vec(),
        };
        write_msg(stream, &resp).await.map_err(stream_err)?;
        let _ = stream.close().await;
        Ok(())
    }

    /// Serves one inbound `/msg` stream from operator `sender`: verifies and
    /// queues the message, then acknowledges with an empty message. Refused
    /// messages get no acknowledgement.
    pub async fn serve_msg<S>(&self, sender: usize, stream: &mut S) -> Result<(), BcastError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let stream_err = stream_err(sender);
        let body = self.read_request(sender, stream).await?;
        if let Some(l) = &self.limits {
            scan_bcast_message(&body, l).map_err(|e| stream_err(FrameError::Proto(e)))?;
        }
        let msg: BCastMessage =
            decode_checked(&body).map_err(|e| stream_err(FrameError::Proto(e)))?;
        match self.accept_message(sender, msg) {
            Ok(_) => {
                write_ack(stream).await;
                Ok(())
            }
            Err(e) => {
                let _ = stream.close().await;
                Err(e)
            }
        }
    }
}
