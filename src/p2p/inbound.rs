//! Inbound streams for the protocols the node serves, queued without loss.
//!
//! `libp2p-stream` hands inbound streams over through a channel with room for
//! one and drops the stream when it is full. Right after each sync barrier
//! every charon peer opens its bcast, FROST and parsigex streams to us at
//! once, and Go senders do not retry (`p2p.Send` even reports success for a
//! dropped stream), so a drop loses a message for good. This behaviour owns
//! the inbound side instead and queues every negotiated stream; outbound
//! streams still go through `libp2p-stream`.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::StreamExt as _;
use futures::channel::mpsc;
use libp2p::core::upgrade::DeniedUpgrade;
use libp2p::core::{InboundUpgrade, UpgradeInfo};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, NetworkBehaviour,
    SubstreamProtocol,
};
use libp2p::{PeerId, Stream, StreamProtocol};

use super::passive::silent_behaviour_methods;

type Sender = mpsc::UnboundedSender<(PeerId, Stream)>;

/// The protocol was already registered and its [`IncomingStreams`] is alive.
#[derive(Debug, thiserror::Error)]
#[error("protocol already registered")]
pub struct AlreadyRegistered;

#[derive(Default)]
struct Registry {
    protocols: Vec<(StreamProtocol, Sender)>,
}

impl Registry {
    fn prune(&mut self) {
        self.protocols.retain(|(_, s)| !s.is_closed());
    }
}

type Shared = Arc<Mutex<Registry>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Registry> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Cloneable handle that registers inbound protocols.
#[derive(Clone, Default)]
pub struct Inbound {
    shared: Shared,
}

impl Inbound {
    /// Starts serving `protocol`: every stream a peer opens for it arrives on
    /// the returned [`IncomingStreams`] until that is dropped. Register before
    /// the host starts, so identify advertises the protocol from the first
    /// connection.
    pub fn accept(&self, protocol: StreamProtocol) -> Result<IncomingStreams, AlreadyRegistered> {
        let mut reg = lock(&self.shared);
        reg.prune();
        if reg.protocols.iter().any(|(p, _)| *p == protocol) {
            return Err(AlreadyRegistered);
        }
        let (tx, rx) = mpsc::unbounded();
        reg.protocols.push((protocol, tx));
        Ok(IncomingStreams(rx))
    }

    /// The behaviour to put in the swarm; it shares this handle's registry.
    pub fn behaviour(&self) -> Behaviour {
        Behaviour {
            shared: self.shared.clone(),
        }
    }
}

/// Inbound streams of one protocol, with the peer that opened each.
pub struct IncomingStreams(mpsc::UnboundedReceiver<(PeerId, Stream)>);

impl futures::Stream for IncomingStreams {
    type Item = (PeerId, Stream);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_next_unpin(cx)
    }
}

/// The swarm side of [`Inbound`].
pub struct Behaviour {
    shared: Shared,
}

impl Behaviour {
    /// The handler of an established connection, in either direction.
    fn handler(&self, peer: PeerId) -> Result<Handler, ConnectionDenied> {
        Ok(Handler {
            remote: peer,
            shared: self.shared.clone(),
        })
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    silent_behaviour_methods!(handler = handler);
}

/// Per-connection handler: accepts the registered protocols and queues the
/// negotiated streams. It never keeps a connection alive by itself.
pub struct Handler {
    remote: PeerId,
    shared: Shared,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Protocols;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Protocols> {
        let mut reg = lock(&self.shared);
        reg.prune();
        let list = reg.protocols.iter().map(|(p, _)| p.clone()).collect();
        SubstreamProtocol::new(Protocols(list), ())
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), Infallible>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: (stream, protocol),
            ..
        }) = event
        {
            let reg = lock(&self.shared);
            match reg.protocols.iter().find(|(p, _)| *p == protocol) {
                Some((_, tx)) => {
                    if tx.unbounded_send((self.remote, stream)).is_err() {
                        tracing::debug!(%protocol, "Inbound stream for a closed protocol dropped");
                    }
                }
                None => tracing::debug!(%protocol, "Inbound stream for an unregistered protocol"),
            }
        }
    }
}

/// The set of protocols offered to inbound streams; the negotiated one is
/// returned with the stream.
pub struct Protocols(Vec<StreamProtocol>);

impl UpgradeInfo for Protocols {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Protocols {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, info: StreamProtocol) -> Self::Future {
        ready(Ok((stream, info)))
    }
}
