//! Store of partial BLS signatures exchanged with parsigex (steps 2-4).
//!
//! Sets may arrive before this node has started that exchange (charon peers
//! run up to a step ahead and never resend), so they are kept until the
//! exchange that consumes it; but only for the signature types this ceremony
//! runs and for at most one key per validator, so a peer cannot fill memory
//! with sets no step will ever read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::frost::bls::{PublicKey, Signature};

/// Why storing or awaiting partial signatures failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParSigError {
    /// A peer sent two different signatures for one slot.
    #[error(
        "peer with share index {share_idx} sent mismatching partial signatures for sig type {sig_type}"
    )]
    Mismatch {
        /// The exchange.
        sig_type: u64,
        /// The sender.
        share_idx: u64,
    },
    /// A signature type no step of this ceremony exchanges.
    #[error("partial signatures for sig type {0}, which this ceremony does not exchange")]
    UnexpectedSigType(u64),
    /// More distinct keys than the cluster has validators.
    #[error("partial signatures for more than {max} validator keys (sig type {sig_type})")]
    TooManyKeys {
        /// The exchange.
        sig_type: u64,
        /// Validators in the cluster.
        max: usize,
    },
    /// A share index outside 1..=n.
    #[error("partial signature with share index {0} outside the cluster")]
    BadShareIdx(u64),
    /// The exchange did not complete in time.
    #[error(
        "timed out waiting for peer signatures for {what}: missing from operator(s) {missing:?}"
    )]
    Timeout {
        /// Which exchange.
        what: String,
        /// 0-based operator indices that did not deliver.
        missing: Vec<usize>,
    },
}

type Slot = BTreeMap<u64, Signature>;

/// Partial signatures per signature type, per group public key, per share index.
pub struct ParSigStore {
    n: u64,
    /// `None`: any type, any number of keys (tests and tools).
    expected: Option<(Vec<u64>, usize)>,
    inner: Mutex<HashMap<u64, HashMap<PublicKey, Slot>>>,
    notify: Notify,
}

impl ParSigStore {
    /// A store for a cluster of `n` operators that accepts any signature type.
    pub fn new(n: usize) -> Self {
        ParSigStore {
            n: n as u64,
            expected: None,
            inner: Mutex::new(HashMap::new()),
            notify: Notify::new(),
        }
    }

    /// A store for a ceremony of `n` operators and `validators` validators
    /// that exchanges exactly `sig_types`; anything else is refused.
    pub fn for_ceremony(n: usize, validators: usize, sig_types: Vec<u64>) -> Self {
        ParSigStore {
            n: n as u64,
            expected: Some((sig_types, validators)),
            inner: Mutex::new(HashMap::new()),
            notify: Notify::new(),
        }
    }

    /// Stores one peer's set. Identical re-deliveries are ignored; a differing
    /// signature for a slot already filled is refused and nothing is stored.
    pub fn insert(
        &self,
        sig_type: u64,
        share_idx: u64,
        set: &[(PublicKey, Signature)],
    ) -> Result<(), ParSigError> {
        if share_idx == 0 || share_idx > self.n {
            return Err(ParSigError::BadShareIdx(share_idx));
        }
        let max_keys = match &self.expected {
            Some((types, _)) if !types.contains(&sig_type) => {
                return Err(ParSigError::UnexpectedSigType(sig_type));
            }
            Some((_, validators)) => *validators,
            None => usize::MAX,
        };
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let by_pk = g.entry(sig_type).or_default();
        let new_keys = set.iter().filter(|(pk, _)| !by_pk.contains_key(pk)).count();
        if by_pk.len().saturating_add(new_keys) > max_keys {
            return Err(ParSigError::TooManyKeys {
                sig_type,
                max: max_keys,
            });
        }
        for (pk, sig) in set {
            if let Some(old) = by_pk.get(pk).and_then(|s| s.get(&share_idx))
                && old != sig
            {
                return Err(ParSigError::Mismatch {
                    sig_type,
                    share_idx,
                });
            }
        }
        for (pk, sig) in set {
            by_pk.entry(*pk).or_default().insert(share_idx, *sig);
        }
        drop(g);
        self.notify.notify_waiters();
        Ok(())
    }

    /// Waits until every key in `pubkeys` has a partial signature from all `n`
    /// share indices, then returns them in `pubkeys` order.
    pub async fn wait_complete(
        &self,
        sig_type: u64,
        what: &str,
        pubkeys: &[PublicKey],
        timeout: Duration,
    ) -> Result<Vec<Slot>, ParSigError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if let Some(done) = self.complete(sig_type, pubkeys) {
                return Ok(done);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(ParSigError::Timeout {
                    what: what.to_string(),
                    missing: self.missing(sig_type, pubkeys),
                });
            }
        }
    }

    fn complete(&self, sig_type: u64, pubkeys: &[PublicKey]) -> Option<Vec<Slot>> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let by_pk = g.get(&sig_type)?;
        pubkeys
            .iter()
            .map(|pk| by_pk.get(pk).filter(|s| s.len() as u64 == self.n).cloned())
            .collect()
    }

    /// 0-based operator indices that lack a signature for at least one key.
    fn missing(&self, sig_type: u64, pubkeys: &[PublicKey]) -> Vec<usize> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let empty = HashMap::new();
        let by_pk = g.get(&sig_type).unwrap_or(&empty);
        (1..=self.n)
            .filter(|idx| {
                pubkeys
                    .iter()
                    .any(|pk| by_pk.get(pk).is_none_or(|s| !s.contains_key(idx)))
            })
            .map(|idx| (idx - 1) as usize)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(b: u8) -> PublicKey {
        PublicKey([b; 48])
    }
    fn sig(b: u8) -> Signature {
        Signature([b; 96])
    }

    #[tokio::test]
    async fn early_sets_complete_a_later_wait() {
        let s = ParSigStore::new(3);
        for idx in 1..=3 {
            s.insert(200, idx, &[(pk(1), sig(idx as u8)), (pk(2), sig(9))])
                .unwrap();
        }
        let got = s
            .wait_complete(200, "deposit", &[pk(2), pk(1)], Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1][&3], sig(3));
    }

    #[tokio::test]
    async fn wait_wakes_on_late_insert_and_times_out_naming_missing() {
        let s = std::sync::Arc::new(ParSigStore::new(3));
        s.insert(101, 1, &[(pk(1), sig(1))]).unwrap();
        s.insert(101, 2, &[(pk(1), sig(2))]).unwrap();
        let err = s
            .wait_complete(101, "lock hash", &[pk(1)], Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ParSigError::Timeout {
                what: "lock hash".into(),
                missing: vec![2]
            }
        );
        let s2 = s.clone();
        let h = tokio::spawn(async move {
            s2.wait_complete(101, "lock hash", &[pk(1)], Duration::from_secs(5))
                .await
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        s.insert(101, 3, &[(pk(1), sig(3))]).unwrap();
        assert_eq!(h.await.unwrap().unwrap()[0].len(), 3);
    }

    #[test]
    fn duplicates_and_mismatches() {
        let s = ParSigStore::new(2);
        s.insert(102, 1, &[(pk(1), sig(1))]).unwrap();
        s.insert(102, 1, &[(pk(1), sig(1))]).unwrap();
        assert!(matches!(
            s.insert(102, 1, &[(pk(2), sig(2)), (pk(1), sig(7))]),
            Err(ParSigError::Mismatch { .. })
        ));
        // Nothing of the refused set was stored.
        assert!(s.complete(102, &[pk(2)]).is_none());
        assert_eq!(s.missing(102, &[pk(2)]), vec![0, 1]);
        assert_eq!(s.insert(102, 0, &[]), Err(ParSigError::BadShareIdx(0)));
        assert_eq!(s.insert(102, 3, &[]), Err(ParSigError::BadShareIdx(3)));
    }

    #[test]
    fn sets_no_step_expects_are_dropped() {
        let s = ParSigStore::for_ceremony(3, 2, vec![101, 102, 200]);
        assert_eq!(
            s.insert(201, 1, &[(pk(1), sig(1))]),
            Err(ParSigError::UnexpectedSigType(201))
        );
        assert_eq!(
            s.insert(7, 1, &[(pk(1), sig(1))]),
            Err(ParSigError::UnexpectedSigType(7))
        );
        s.insert(200, 1, &[(pk(1), sig(1)), (pk(2), sig(1))])
            .unwrap();
        // A third key for a two-validator cluster, from any peer.
        assert_eq!(
            s.insert(200, 2, &[(pk(3), sig(2))]),
            Err(ParSigError::TooManyKeys {
                sig_type: 200,
                max: 2
            })
        );
        s.insert(200, 2, &[(pk(1), sig(2)), (pk(2), sig(2))])
            .unwrap();
        assert!(!s.inner.lock().unwrap()[&200].contains_key(&pk(3)));
        assert!(!s.inner.lock().unwrap().contains_key(&201));
    }
}
