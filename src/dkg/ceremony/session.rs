//! What every step works with: the inputs, the peers, the running protocol
//! endpoints, and the step bookkeeping.

use std::sync::Arc;
use std::time::Instant;

use k256::ecdsa::{SigningKey, VerifyingKey};
use libp2p::PeerId;

use crate::dkg::metrics::Metrics;
use crate::dkg::net::Net;
use crate::dkg::parsig::ParSigStore;
use crate::dkg::preflight::Checked;
use crate::p2p::bcast::Bcast;
use crate::p2p::collect::Collector;
use crate::p2p::proto::dkgpb::FrostRound1P2P;
use crate::p2p::sync::{SyncLocal, SyncServer};

use super::config::CeremonyConfig;
use super::error::CeremonyError;
use super::progress::{Progress, step_name};

/// The peers of the cluster as the definition lists them.
pub(super) struct Peers {
    /// Peer ids in operator order.
    pub(super) ids: Vec<PeerId>,
    /// Their ENR keys, in the same order.
    pub(super) keys: Vec<VerifyingKey>,
    /// Our operator index.
    pub(super) own: usize,
}

/// One running ceremony, as each step sees it. What a step produced for the
/// next is not here: it is the step's return value.
pub(super) struct Session<'a> {
    pub(super) cfg: &'a CeremonyConfig,
    pub(super) checked: &'a Checked,
    pub(super) metrics: &'a Metrics,
    pub(super) peers: Peers,
    pub(super) num_vals: usize,
    pub(super) net: Arc<Net>,
    pub(super) bcast: Arc<Bcast>,
    pub(super) sync: Arc<SyncServer>,
    pub(super) local: Arc<SyncLocal>,
    pub(super) parsigs: Arc<ParSigStore>,
    pub(super) round1_p2p: Arc<Collector<FrostRound1P2P>>,
    pub(super) signing_key: SigningKey,
    /// Wall time per finished step.
    pub(super) steps: Vec<(u64, f64)>,
    /// When the current step's barrier was passed.
    pub(super) step_start: Instant,
    pub(super) progress: Progress,
}

impl Session<'_> {
    pub(super) fn n(&self) -> usize {
        self.peers.ids.len()
    }

    pub(super) fn own(&self) -> usize {
        self.peers.own
    }

    /// Our 1-based FROST / share index.
    pub(super) fn share_idx(&self) -> u32 {
        self.peers.own as u32 + 1
    }

    pub(super) fn fail(&self, step: u64, reason: impl std::fmt::Display) -> CeremonyError {
        CeremonyError::Step {
            step,
            name: step_name(step),
            reason: reason.to_string(),
        }
    }

    /// What to check when a peer went quiet and this node is cut off from
    /// everyone: then the relay (or the network) is the likely cause, not
    /// the operators named.
    pub(super) fn isolation_hint(&self) -> &'static str {
        let host = &self.net.host;
        if host.connected_peers().is_empty() && host.watch_reservations().borrow().is_empty() {
            "; this node is connected to no peer and holds no relay reservation: check that the relays in --p2p-relays are up and reachable"
        } else {
            ""
        }
    }

    /// Describes operators by index and ENR-derived peer id.
    pub(super) fn describe(&self, idx: &[usize]) -> String {
        idx.iter()
            .map(|&i| match self.peers.ids.get(i) {
                Some(p) => format!("{i} ({p})"),
                None => i.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
