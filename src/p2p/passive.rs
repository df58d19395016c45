//! The `NetworkBehaviour` methods shared by this crate's behaviours that
//! react to no swarm event, get no handler event and emit nothing.

/// Expands, inside an `impl NetworkBehaviour`, to `on_swarm_event` (ignores
/// everything), `on_connection_handler_event` (the handler's event type is
/// uninhabited) and `poll` (never ready). With `handler = f`, also to both
/// `handle_established_*_connection` methods, which return `self.f(peer)`
/// whichever side dialed. With `pending_outbound = g` as well, also to
/// `handle_pending_outbound_connection`, which returns `self.g(maybe_peer)`.
macro_rules! silent_behaviour_methods {
    (handler = $handler:ident, pending_outbound = $pending:ident) => {
        fn handle_pending_outbound_connection(
            &mut self,
            _connection_id: ::libp2p::swarm::ConnectionId,
            maybe_peer: Option<::libp2p::PeerId>,
            _addresses: &[::libp2p::Multiaddr],
            _effective_role: ::libp2p::core::Endpoint,
        ) -> Result<Vec<::libp2p::Multiaddr>, ::libp2p::swarm::ConnectionDenied> {
            self.$pending(maybe_peer)
        }

        $crate::p2p::passive::silent_behaviour_methods!(handler = $handler);
    };
    (handler = $handler:ident) => {
        fn handle_established_inbound_connection(
            &mut self,
            _connection_id: ::libp2p::swarm::ConnectionId,
            peer: ::libp2p::PeerId,
            _local_addr: &::libp2p::Multiaddr,
            _remote_addr: &::libp2p::Multiaddr,
        ) -> Result<::libp2p::swarm::THandler<Self>, ::libp2p::swarm::ConnectionDenied> {
            self.$handler(peer)
        }

        fn handle_established_outbound_connection(
            &mut self,
            _connection_id: ::libp2p::swarm::ConnectionId,
            peer: ::libp2p::PeerId,
            _addr: &::libp2p::Multiaddr,
            _role_override: ::libp2p::core::Endpoint,
            _port_use: ::libp2p::core::transport::PortUse,
        ) -> Result<::libp2p::swarm::THandler<Self>, ::libp2p::swarm::ConnectionDenied> {
            self.$handler(peer)
        }

        $crate::p2p::passive::silent_behaviour_methods!();
    };
    () => {
        fn on_swarm_event(&mut self, _event: ::libp2p::swarm::FromSwarm) {}

        fn on_connection_handler_event(
            &mut self,
            _peer_id: ::libp2p::PeerId,
            _connection_id: ::libp2p::swarm::ConnectionId,
            event: ::libp2p::swarm::THandlerOutEvent<Self>,
        ) {
            match event {}
        }

        fn poll(
            &mut self,
            _cx: &mut ::std::task::Context<'_>,
        ) -> ::std::task::Poll<
            ::libp2p::swarm::ToSwarm<Self::ToSwarm, ::libp2p::swarm::THandlerInEvent<Self>>,
        > {
            ::std::task::Poll::Pending
        }
    };
}

/// Implements `NetworkBehaviour` for `$ty` with the inert `dummy` handler:
/// `self.f(peer)` decides established connections, `self.g(maybe_peer)`
/// pending dials, and the rest is [`silent_behaviour_methods`].
macro_rules! dummy_handler_behaviour {
    ($ty:ty, handler = $handler:ident, pending_outbound = $pending:ident) => {
        impl ::libp2p::swarm::NetworkBehaviour for $ty {
            type ConnectionHandler = ::libp2p::swarm::dummy::ConnectionHandler;
            type ToSwarm = ::std::convert::Infallible;

            $crate::p2p::passive::silent_behaviour_methods!(
                handler = $handler,
                pending_outbound = $pending
            );
        }
    };
}

pub(crate) use dummy_handler_behaviour;
pub(crate) use silent_behaviour_methods;
