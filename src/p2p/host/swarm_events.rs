//! How the swarm task reacts to swarm events.

use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, dcutr, identify, relay};
use tokio::time::Instant;

use super::behaviour::NodeBehaviourEvent;
use super::messages::PeerEvent;
use super::runner::{Backoff, Runner};
use crate::p2p::direct::PathChange;

impl Runner {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                if let Some(relay) = self.is_relay_listener(&listener_id) {
                    tracing::debug!(%relay, addr = %address, "Relay circuit address");
                } else {
                    tracing::info!(addr = %address, "Listening");
                }
                self.publish_listen_addrs();
            }
            SwarmEvent::ExpiredListenAddr { .. } => self.publish_listen_addrs(),
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(relay) = self.is_relay_listener(&listener_id) {
                    // Only a reservation that was granted is news; the failed
                    // attempts while a relay is down are retried quietly.
                    let held = self.reservations_tx.borrow().contains(&relay);
                    match &reason {
                        Ok(()) if held => {
                            tracing::info!(%relay, "Relay reservation closed; will reserve again")
                        }
                        Err(e) if held => {
                            tracing::warn!(%relay, error = %e, "Relay reservation lost; will reserve again")
                        }
                        _ => tracing::debug!(%relay, ?reason, "Relay reservation attempt ended"),
                    }
                    self.relay_listeners.remove(&relay);
                    self.reservations_tx.send_modify(|r| {
                        r.remove(&relay);
                    });
                    let b = Backoff::failed(self.relay_backoff.get(&relay).copied());
                    self.relay_backoff.insert(relay, b);
                }
                self.publish_listen_addrs();
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                tracing::warn!(?listener_id, %error, "Listener error");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if let Some(index) = self.peer_index(&peer_id) {
                    self.peer_backoff.remove(&peer_id);
                    let relayed = is_relayed(&endpoint);
                    if self
                        .direct
                        .on_established(peer_id, relayed, !endpoint.is_dialer())
                        == PathChange::LeftRelay
                    {
                        tracing::info!(
                            peer_index = index,
                            peer = %peer_id,
                            addr = %endpoint.get_remote_address(),
                            "Direct connection to peer: DKG traffic leaves the relay"
                        );
                        let _ = self.events.send(PeerEvent::Direct {
                            peer: peer_id,
                            index,
                        });
                    }
                    if num_established.get() == 1 {
                        self.connected_tx.send_modify(|c| {
                            c.insert(peer_id);
                        });
                        let n = self.connected_tx.borrow().len();
                        let _ = self.events.send(PeerEvent::Connected {
                            peer: peer_id,
                            index,
                            relayed,
                            outbound: endpoint.is_dialer(),
                        });
                        tracing::info!(
                            peer_index = index,
                            peer = %peer_id,
                            relayed,
                            "Connected to peer {n} of {}",
                            self.peers.len().saturating_sub(1)
                        );
                    }
                } else if self.allow.is_relay(&peer_id) && num_established.get() == 1 {
                    tracing::info!(relay = %peer_id, "Connected to relay");
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                cause,
                ..
            } => {
                if self.peer_index(&peer_id).is_some() {
                    let inbound = !endpoint.is_dialer();
                    self.direct
                        .on_closed(peer_id, is_relayed(&endpoint), inbound);
                }
                if num_established > 0 {
                    return;
                }
                if let Some(index) = self.peer_index(&peer_id) {
                    self.connected_tx.send_modify(|c| {
                        c.remove(&peer_id);
                    });
                    let _ = self.events.send(PeerEvent::Disconnected {
                        peer: peer_id,
                        index,
                    });
                    // Debug here: only the protocol on top (the ceremony's
                    // step) knows whether a peer leaving is expected, and it
                    // logs the warning when it is not.
                    tracing::debug!(
                        peer_index = index,
                        peer = %peer_id,
                        cause = ?cause.map(|c| c.to_string()),
                        "Disconnected from peer"
                    );
                    // Redial at once (charon §10.7): the other side has no
                    // route to us if we are the dialing side.
                    self.peer_backoff.remove(&peer_id);
                    self.dial_peer(peer_id);
                } else if self.allow.is_relay(&peer_id) {
                    tracing::warn!(relay = %peer_id, "Disconnected from relay");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if let Some(index) = peer_id.and_then(|p| self.peer_index(&p)) {
                    tracing::debug!(peer_index = index, %error, "Dialing peer failed");
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(addr = %send_back_addr, %error, "Inbound connection refused or failed");
            }
            // The reservation counts once the relay accepts it, with or without
            // addresses: go-libp2p relays on private networks send none, and
            // circuits still reach us over the relay connection.
            SwarmEvent::Behaviour(NodeBehaviourEvent::RelayClient(
                relay::client::Event::ReservationReqAccepted {
                    relay_peer_id,
                    renewal,
                    limit,
                },
            )) => {
                if !renewal {
                    tracing::info!(relay = %relay_peer_id, "Relay reservation accepted");
                }
                let data = limit.and_then(|l| l.data_in_bytes());
                self.circuit_limits_tx.send_modify(|l| {
                    l.insert(relay_peer_id, data);
                });
                self.relay_backoff.remove(&relay_peer_id);
                self.reservations_tx.send_modify(|r| {
                    r.insert(relay_peer_id);
                });
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::RelayClient(ev)) => {
                tracing::debug!(?ev, "Relay client event");
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if self.peer_index(&peer_id).is_some() => {
                self.direct
                    .on_listen_addrs(peer_id, &info.listen_addrs, Instant::now());
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => {
                // The gater admits cluster peers only.
                let index = self.peer_index(&remote_peer_id).unwrap_or_default();
                match result {
                    Ok(_) => tracing::info!(
                        peer_index = index,
                        peer = %remote_peer_id,
                        "Hole punch succeeded"
                    ),
                    // A failed punch leaves the circuit and the dial of
                    // announced addresses, made at once; not worth a warning.
                    Err(e) => {
                        tracing::debug!(
                            peer_index = index,
                            peer = %remote_peer_id,
                            error = %e,
                            "Hole punch failed"
                        );
                        self.direct.on_punch_failed(remote_peer_id, Instant::now());
                    }
                }
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Error {
                peer_id,
                error,
                ..
            })) => {
                tracing::debug!(%peer_id, %error, "Identify failed");
            }
            _ => {}
        }
    }
}

fn is_relayed(endpoint: &ConnectedPoint) -> bool {
    let circuit = |a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::P2pCircuit));
    match endpoint {
        ConnectedPoint::Dialer { address, .. } => circuit(address),
        // Inbound circuits carry the circuit in the local (listen) address;
        // the send-back address is just the source peer.
        ConnectedPoint::Listener {
            local_addr,
            send_back_addr,
        } => circuit(local_addr) || circuit(send_back_addr),
    }
}
