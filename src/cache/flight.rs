//! Single flight: concurrent misses for one key make one request to the inner service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::entry::Entry;
use super::key::CacheKey;

/// Where a flight stands.
#[derive(Debug, Clone)]
pub(crate) enum Landing {
    /// The leader is still fetching.
    InFlight,
    /// The leader stored this entry: followers answer from it.
    Stored(Arc<Entry>),
    /// Nothing was stored (an error, `no-store`, a cancelled leader): followers ask on
    /// their own.
    Nothing,
}

/// The flights in progress, by key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    flights: Mutex<HashMap<CacheKey, watch::Receiver<Landing>>>,
}

/// The role a request takes for its key.
pub(crate) enum Role<'f> {
    /// Fetch, then [`Leader::land`].
    Leader(Leader<'f>),
    /// Wait for the leader.
    Follower(watch::Receiver<Landing>),
}

/// The request that fetches for everyone; landing (or being dropped) tells the followers.
pub(crate) struct Leader<'f> {
    flights: &'f Flights,
    key: CacheKey,
    sender: watch::Sender<Landing>,
}

impl Flights {
    /// Leads a new flight for `key`, or follows the one in progress.
    pub(crate) fn join(&self, key: &CacheKey) -> Role<'_> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(receiver) = flights.get(key)
            && receiver.has_changed().is_ok()
        {
            return Role::Follower(receiver.clone());
        }
        let (sender, receiver) = watch::channel(Landing::InFlight);
        flights.insert(key.clone(), receiver);
        Role::Leader(Leader {
            flights: self,
            key: key.clone(),
            sender,
        })
    }

    /// Flights in progress.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Leader<'_> {
    /// Tells the followers what was stored (or that nothing was).
    pub(crate) fn land(self, entry: Option<Arc<Entry>>) {
        self.sender
            .send_replace(entry.map_or(Landing::Nothing, Landing::Stored));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        // A leader cancelled mid-flight (its client went away, it panicked) leaves the
        // followers free to ask on their own instead of waiting forever.
        if matches!(*self.sender.borrow(), Landing::InFlight) {
            self.sender.send_replace(Landing::Nothing);
        }
        self.flights
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}
