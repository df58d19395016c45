//! Protocol and bcast message IDs of `charon dkg`, and the charon minor
//! version we claim (peers only talk to the same minor version).

/// Sync protocol (note the trailing slash); 8-byte LE framing.
pub const SYNC: &str = "/charon/dkg/sync/1.0.0/";
/// bcast co-signature requests (charon v1.11).
pub const BCAST_SIG_V2: &str = "/charon/dkg/bcast/2.0.0/sig";
/// bcast signed messages (charon v1.11).
pub const BCAST_MSG_V2: &str = "/charon/dkg/bcast/2.0.0/msg";
/// bcast co-signature requests (charon v1.10).
pub const BCAST_SIG_V1: &str = "/charon/dkg/bcast/1.0.0/sig";
/// bcast signed messages (charon v1.10).
pub const BCAST_MSG_V1: &str = "/charon/dkg/bcast/1.0.0/msg";
/// FROST round-1 direct shares.
pub const FROST_ROUND1_P2P: &str = "/charon/dkg/frost/2.0.0/round1/p2p";
/// Partial-signature exchange.
pub const PARSIGEX: &str = "/charon/parsigex/2.0.0";
/// Peer info.
pub const PEERINFO: &str = "/charon/peerinfo/2.0.0";
/// Pedersen deal bundles.
pub const PEDERSEN_DEAL_BUNDLE: &str = "/charon/dkg/pedersen/1.0.0/deal_bundle";
/// Pedersen response bundles.
pub const PEDERSEN_RESP_BUNDLE: &str = "/charon/dkg/pedersen/1.0.0/resp_bundle";
/// Pedersen justification bundles.
pub const PEDERSEN_JUST_BUNDLE: &str = "/charon/dkg/pedersen/1.0.0/just_bundle";
/// Pedersen validator public share.
pub const PEDERSEN_VAL_PUBKEY_SHARE: &str = "/charon/dkg/pedersen/1.0.0/val_pubkey_share";

/// bcast message ID of FROST round-1 casts.
pub const MSG_FROST_ROUND1_CAST: &str = "/charon/dkg/frost/2.0.0/round1/cast";
/// bcast message ID of FROST round-2 casts.
pub const MSG_FROST_ROUND2_CAST: &str = "/charon/dkg/frost/2.0.0/round2/cast";
/// bcast message ID of node signatures.
pub const MSG_NODE_SIG: &str = "/charon/dkg/node_sig";
/// bcast message ID of Pedersen node public keys.
pub const MSG_PEDERSEN_NODE_PUBKEYS: &str = "/charon/dkg/pedersen/1.0.0/node_pubkeys";

/// Every bcast message ID `charon dkg` registers at start-up.
pub const BCAST_MESSAGE_IDS: [&str; 4] = [
    MSG_FROST_ROUND1_CAST,
    MSG_FROST_ROUND2_CAST,
    MSG_NODE_SIG,
    MSG_PEDERSEN_NODE_PUBKEYS,
];

/// Which charon minor version we interoperate with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compat {
    /// charon v1.11 (bcast 2.0.0, session-bound bcast hash).
    #[default]
    V1_11,
    /// charon v1.10 (bcast 1.0.0, unbound bcast hash).
    V1_10,
    /// charon v1.11.0-rc1: claims v1.11 at sync and dials by the v1.11 rule,
    /// but still speaks bcast 1.0.0 (the session-bound 2.0.0 came in rc3).
    V1_11Rc1,
}

impl Compat {
    /// Minor version string sent in sync messages.
    pub fn minor_version(self) -> &'static str {
        match self {
            Compat::V1_11 | Compat::V1_11Rc1 => "v1.11",
            Compat::V1_10 => "v1.10",
        }
    }

    /// Whether bcast hashes bind the session and message ID (bcast 2.0.0).
    pub fn session_bound_bcast(self) -> bool {
        self == Compat::V1_11
    }

    /// Whether only the peer with the bytewise smaller ID dials (v1.11's rule).
    pub fn smaller_id_dials(self) -> bool {
        self != Compat::V1_10
    }

    /// Whether Holesky is still a known network (removed in v1.11.0-rc1).
    pub fn knows_holesky(self) -> bool {
        self == Compat::V1_10
    }

    /// The charon release this mode speaks, as peerinfo reports it.
    pub fn release_version(self) -> &'static str {
        match self {
            Compat::V1_11 => "v1.11.0",
            Compat::V1_10 => "v1.10.0",
            Compat::V1_11Rc1 => "v1.11.0-rc1",
        }
    }

    /// bcast `/sig` protocol ID.
    pub fn bcast_sig(self) -> &'static str {
        if self.session_bound_bcast() {
            BCAST_SIG_V2
        } else {
            BCAST_SIG_V1
        }
    }

    /// bcast `/msg` protocol ID.
    pub fn bcast_msg(self) -> &'static str {
        if self.session_bound_bcast() {
            BCAST_MSG_V2
        } else {
            BCAST_MSG_V1
        }
    }

    /// Every libp2p protocol a DKG node serves, in registration order
    /// (peerinfo excluded; it is served separately).
    pub fn dkg_protocols(self) -> [&'static str; 9] {
        [
            PARSIGEX,
            self.bcast_sig(),
            self.bcast_msg(),
            FROST_ROUND1_P2P,
            PEDERSEN_DEAL_BUNDLE,
            PEDERSEN_RESP_BUNDLE,
            PEDERSEN_JUST_BUNDLE,
            PEDERSEN_VAL_PUBKEY_SHARE,
            SYNC,
        ]
    }
}

impl std::str::FromStr for Compat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1.11" | "1.11" => Ok(Compat::V1_11),
            "v1.10" | "1.10" => Ok(Compat::V1_10),
            "v1.11.0-rc1" | "1.11.0-rc1" => Ok(Compat::V1_11Rc1),
            other => Err(format!(
                "unsupported charon compatibility version {other:?} (expected v1.11, v1.10 or v1.11.0-rc1)"
            )),
        }
    }
}
