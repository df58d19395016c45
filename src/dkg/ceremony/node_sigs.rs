//! Step 5: every operator signs the lock hash with its ENR key and
//! broadcasts it; the lock (from v1.7) carries all of them.

use tokio::sync::mpsc::UnboundedReceiver;

use crate::lock::version::Version;
use crate::p2p::bcast::Delivery;
use crate::p2p::nodesig::NodeSigs;
use crate::p2p::proto::dkgpb::MsgNodeSig;
use crate::p2p::protocols;

use super::error::CeremonyError;
use super::session::Session;
use super::signatures::SignedLock;

/// Step 5's result: the lock as it will be written, before verification;
/// step 4's lock with the node signatures added (from v1.7).
pub(super) type EndorsedLock = SignedLock;

/// Step 5, on the lock that step 4 signed.
pub(super) async fn exchange(
    cx: &mut Session<'_>,
    step4: SignedLock,
    rx: UnboundedReceiver<Delivery>,
) -> Result<EndorsedLock, CeremonyError> {
    let cx = cx.enter(5).await?;
    let mut signed = step4;
    let node_sigs = cx
        .guarded(5, node_signatures(cx, rx, &signed.lock_hash))
        .await?;
    if signed.lock.definition.version >= Version::V1_7 {
        signed.lock.node_signatures = node_sigs;
    }
    Ok(signed)
}

/// Step 5: node (ENR key) signatures over the lock hash via bcast.
async fn node_signatures(
    cx: &Session<'_>,
    mut rx: UnboundedReceiver<Delivery>,
    lock_hash: &[u8; 32],
) -> Result<Vec<Vec<u8>>, CeremonyError> {
    let msg = crate::p2p::nodesig::build(&cx.signing_key, lock_hash, cx.own())
        .map_err(|e| cx.fail(5, e))?;
    let own_sig = msg.signature.clone();
    let collector = NodeSigs::new(cx.own(), cx.peers.keys.clone());
    let bc = async {
        cx.bcast
            .broadcast(cx.net.as_ref(), protocols::MSG_NODE_SIG, &msg)
            .await
            .map_err(|e| cx.fail(5, format!("node signature broadcast: {e}")))
    };
    let collect = async {
        let deliveries = cx.collect_first(5, &mut rx, "node signatures").await?;
        for (sender, d) in deliveries {
            let m: MsgNodeSig = d
                .decode()
                .map_err(|e| cx.fail(5, format!("operator {sender}: {e}")))?;
            collector.offer(sender, &m).map_err(|e| cx.fail(5, e))?;
        }
        collector
            .wait_all(lock_hash, &own_sig)
            .await
            .map_err(|e| cx.fail(5, e))
    };
    let (_, sigs) = tokio::try_join!(bc, collect)?;
    Ok(sigs)
}
