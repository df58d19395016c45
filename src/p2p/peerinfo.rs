//! Peer info on `/charon/peerinfo/2.0.0`: during a DKG a node only answers
//! queries (relays use the answer for metrics).

use std::time::SystemTime;

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::frame::{FrameError, MAX_PEERINFO_SIZE, read_msg, write_msg};
use super::proto::Timestamp;
use super::proto::peerinfopb::PeerInfo;

/// `dv_client` value charon sends.
pub const DV_CLIENT: &str = "charon";

/// The peer info a DKG node serves, with the fields charon's `charon dkg`
/// populates (no nickname, builder API off).
pub fn dkg_peer_info(
    version: &str,
    git_hash: &str,
    definition_hash: &[u8; 32],
    started_at: SystemTime,
) -> PeerInfo {
    PeerInfo {
        charon_version: version.to_owned(),
        lock_hash: definition_hash.to_vec(),
        sent_at: Some(Timestamp::from(SystemTime::now())),
        git_hash: git_hash.to_owned(),
        started_at: Some(Timestamp::from(started_at)),
        builder_api_enabled: false,
        nickname: String::new(),
        dv_client: DV_CLIENT.to_owned(),
    }
}

/// Serves one query: reads the request (1 MiB limit, content ignored) and
/// answers with `info` (its `sent_at` refreshed).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    info: &PeerInfo,
) -> Result<(), FrameError> {
    let _request: PeerInfo = read_msg(stream, MAX_PEERINFO_SIZE).await?;
    let mut info = info.clone();
    info.sent_at = Some(Timestamp::from(SystemTime::now()));
    write_msg(stream, &info).await?;
    let _ = stream.close().await;
    Ok(())
}
