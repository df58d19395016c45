//! The broadcasting side: collect every co-signature, then deliver.

use prost::{Message, Name};

use crate::p2p::k1sig::{sign65, verify65};
use crate::p2p::limits::MAX_BCAST_SIG_RESPONSE;
use crate::p2p::proto::dkgpb::{BCastMessage, BCastSigRequest, BCastSigResponse};
use crate::p2p::proto::{Any, pack_any};
use crate::p2p::stream::{
    OpenStream, RetryError, SendPolicy, send_receive, send_with_ack, with_retries,
};

use super::endpoint::Bcast;
use super::error::BcastError;
use super::hash::verify_signatures;

impl Bcast {
    /// Broadcasts `msg` under `msg_id`: serialises it once, then see
    /// [`Bcast::broadcast_any`]. Returns the `Any` that was sent.
    pub async fn broadcast<O, M>(
        &self,
        opener: &O,
        msg_id: &str,
        msg: &M,
    ) -> Result<Any, BcastError>
    where
        O: OpenStream,
        M: Message + Name,
    {
        let any = pack_any(msg);
        self.broadcast_any(opener, msg_id, &any).await?;
        Ok(any)
    }

    /// Collects every peer's co-signature over `any` (retrying with the same
    /// bytes), verifies all n, then delivers the message to every peer, waiting
    /// for each acknowledgement and re-sending the same bytes when none comes.
    /// The message is not delivered to ourselves.
    pub async fn broadcast_any<O: OpenStream>(
        &self,
        opener: &O,
        msg_id: &str,
        any: &Any,
    ) -> Result<(), BcastError> {
        self.broadcast_with(
            opener,
            msg_id,
            any,
            &SendPolicy::DEFAULT,
            &SendPolicy::BCAST_MSG,
        )
        .await
    }

    /// [`Bcast::broadcast_any`] with explicit send policies.
    pub async fn broadcast_with<O: OpenStream>(
        &self,
        opener: &O,
        msg_id: &str,
        any: &Any,
        sig_policy: &SendPolicy,
        msg_policy: &SendPolicy,
    ) -> Result<(), BcastError> {
        self.check_message(msg_id, any)?;
        let hash = self.hash(msg_id, any);
        let own_sig = sign65(&self.key, &hash).map_err(BcastError::Sign)?;
        let request = BCastSigRequest {
            id: msg_id.to_owned(),
            message: Some(any.clone()),
        }
        .encode_to_vec();

        let others: Vec<usize> = (0..self.peers.len()).filter(|&p| p != self.own).collect();
        let requests = others.iter().map(|&peer| {
            let request = &request;
            async move {
                let sig = with_retries(sig_policy, || {
                    self.request_sig(opener, peer, request, &hash)
                })
                .await
                .map_err(|e| send_failed("co-signature request", peer, e))?;
                Ok::<_, BcastError>((peer, sig))
            }
        });
        let mut sigs = vec![Vec::new(); self.peers.len()];
        for (peer, sig) in futures::future::try_join_all(requests).await? {
            if let Some(slot) = sigs.get_mut(peer) {
                *slot = sig;
            }
        }
        if let Some(slot) = sigs.get_mut(self.own) {
            *slot = own_sig.to_vec();
        }
        verify_signatures(&self.peers, &hash, &sigs)?;

        let message = BCastMessage {
            id: msg_id.to_owned(),
            message: Some(any.clone()),
            signatures: sigs,
        }
        .encode_to_vec();
        let sends = others.iter().map(|&peer| {
            let message = &message;
            async move {
                with_retries(msg_policy, || self.deliver(opener, peer, message))
                    .await
                    .map_err(|e| send_failed("message", peer, e))
            }
        });
        futures::future::try_join_all(sends).await?;
        Ok(())
    }

    async fn request_sig<O: OpenStream>(
        &self,
        opener: &O,
        peer: usize,
        request: &[u8],
        hash: &[u8; 32],
    ) -> Result<Vec<u8>, BcastError> {
        let mut stream = opener
            .open(peer, self.compat.bcast_sig())
            .await
            .map_err(|source| BcastError::Open { peer, source })?;
        let resp: BCastSigResponse = send_receive(&mut stream, request, MAX_BCAST_SIG_RESPONSE)
            .await
            .map_err(|source| BcastError::Stream { peer, source })?;
        let key = self
            .peers
            .get(peer)
            .ok_or(BcastError::InvalidSender(peer))?;
        verify65(key, hash, &resp.signature)
            .map_err(|source| BcastError::BadSignature { peer, source })?;
        Ok(resp.signature)
    }

    async fn deliver<O: OpenStream>(
        &self,
        opener: &O,
        peer: usize,
        message: &[u8],
    ) -> Result<(), BcastError> {
        let mut stream = opener
            .open(peer, self.compat.bcast_msg())
            .await
            .map_err(|source| BcastError::Open { peer, source })?;
        let acked = send_with_ack(&mut stream, message)
            .await
            .map_err(|source| BcastError::Stream { peer, source })?;
        if acked {
            Ok(())
        } else {
            Err(BcastError::SendFailed {
                what: "message",
                peer,
                reason: "peer closed the stream without acknowledging".into(),
            })
        }
    }
}

fn send_failed(what: &'static str, peer: usize, e: RetryError<BcastError>) -> BcastError {
    match e {
        RetryError::Timeout => BcastError::SendFailed {
            what,
            peer,
            reason: "timed out".into(),
        },
        // A signature that does not verify will not improve on retry; keep its type.
        RetryError::Failed(e @ BcastError::BadSignature { .. }) => e,
        RetryError::Failed(e) => BcastError::SendFailed {
            what,
            peer,
            reason: e.to_string(),
        },
    }
}
