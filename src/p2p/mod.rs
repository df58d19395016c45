//! libp2p host and charon's DKG wire protocols.
