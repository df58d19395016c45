//! A per-sender mailbox that keeps the first accepted item from each peer
//! and lets a phase wait until every expected peer has delivered. Items may
//! arrive long before the phase starts (Go peers run ahead and never resend).

use std::sync::Mutex;

use tokio::sync::Notify;

/// First-wins slots indexed by operator index.
#[derive(Debug)]
pub struct Collector<T> {
    slots: Mutex<Vec<Option<T>>>,
    changed: Notify,
}

impl<T: Clone> Collector<T> {
    /// Empty collector for `n` operators.
    pub fn new(n: usize) -> Self {
        Collector {
            slots: Mutex::new((0..n).map(|_| None).collect()),
            changed: Notify::new(),
        }
    }

    /// Stores `item` for `sender` unless it already has one. Returns `false`
    /// for an out-of-range sender or an already filled slot.
    pub fn offer(&self, sender: usize, item: T) -> bool {
        let stored = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.get_mut(sender) {
                Some(slot @ None) => {
                    *slot = Some(item);
                    true
                }
                _ => false,
            }
        };
        if stored {
            self.changed.notify_waiters();
        }
        stored
    }

    /// The item of `sender`, if delivered.
    pub fn get(&self, sender: usize) -> Option<T> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.get(sender).cloned().flatten()
    }

    /// Waits until every operator except `skip` has delivered, and returns all
    /// slots in operator order (the skipped one as stored, usually `None`).
    pub async fn wait_all_except(&self, skip: Option<usize>) -> Vec<Option<T>> {
        loop {
            let notified = self.changed.notified();
            {
                let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
                let done = slots
                    .iter()
                    .enumerate()
                    .all(|(i, s)| Some(i) == skip || s.is_some());
                if done {
                    return slots.clone();
                }
            }
            notified.await;
        }
    }
}
