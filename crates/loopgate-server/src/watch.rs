//! Long-poll wake-ups. One task listens to the store's change feed and wakes the requests waiting
//! on the changed item, so ten thousand waiting agents cost ten thousand idle futures, not ten
//! thousand polls of the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use loopgate_core::ItemId;
use loopgate_store::ItemChanged;
use tokio::sync::{Notify, broadcast};

/// Registry of the items someone is waiting on.
#[derive(Debug, Clone)]
pub struct Watchers {
    inner: Arc<Mutex<HashMap<ItemId, Weak<Notify>>>>,
}

/// A registration to be woken when an item changes. Dropping it unregisters.
#[derive(Debug)]
pub struct Watch {
    id: ItemId,
    notify: Arc<Notify>,
    registry: Arc<Mutex<HashMap<ItemId, Weak<Notify>>>>,
}

impl Watchers {
    /// Starts waking watchers from `changes`.
    pub fn start(mut changes: broadcast::Receiver<ItemChanged>) -> Self {
        let inner: Arc<Mutex<HashMap<ItemId, Weak<Notify>>>> = Arc::default();
        let registry = Arc::downgrade(&inner);
        tokio::spawn(async move {
            loop {
                let woken = match changes.recv().await {
                    Ok(change) => Some(change.id),
                    // Missed events: wake everyone; each re-reads its item.
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let Some(registry) = registry.upgrade() else {
                    break;
                };
                let map = registry.lock().expect("watchers mutex poisoned");
                match woken {
                    Some(id) => {
                        if let Some(n) = map.get(&id).and_then(Weak::upgrade) {
                            n.notify_waiters();
                        }
                    }
                    None => map
                        .values()
                        .filter_map(Weak::upgrade)
                        .for_each(|n| n.notify_waiters()),
                }
            }
        });
        Self { inner }
    }

    /// Registers interest in `id`.
    pub fn watch(&self, id: ItemId) -> Watch {
        let mut map = self.inner.lock().expect("watchers mutex poisoned");
        let notify = match map.get(&id).and_then(Weak::upgrade) {
            Some(n) => n,
            None => {
                let n = Arc::new(Notify::new());
                map.insert(id, Arc::downgrade(&n));
                n
            }
        };
        Watch {
            id,
            notify,
            registry: self.inner.clone(),
        }
    }

    /// How many items are being waited on.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("watchers mutex poisoned").len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Watch {
    /// The notifier; create `notified()` before reading the item so no change is missed.
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut map = self.registry.lock().expect("watchers mutex poisoned");
        // This watch and the map's weak reference: the last watcher removes the entry.
        if Arc::strong_count(&self.notify) == 1 {
            map.remove(&self.id);
        }
    }
}
