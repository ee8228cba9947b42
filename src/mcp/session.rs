//! `Mcp-Session-Id` sessions of the stateful protocol era: issued on `initialize`, required on
//! every later request, ended by DELETE or after an idle timeout. Bounded: when the store is
//! full the least recently used session ends (its client gets 404 and initializes again).

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

/// Why a request's session is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionError {
    /// The request carries no `Mcp-Session-Id` (400).
    Missing,
    /// The id is unknown, ended or expired (404).
    Unknown,
}

/// The live sessions, least recently used first out.
#[derive(Debug)]
pub(crate) struct SessionStore {
    sessions: Mutex<LruCache<String, Instant>>,
    idle_timeout: Duration,
}

impl SessionStore {
    pub(crate) fn new(max_sessions: NonZeroUsize, idle_timeout: Duration) -> Self {
        Self {
            sessions: Mutex::new(LruCache::new(max_sessions)),
            idle_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Instant>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep serving.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session and returns its id (128 random bits, hex), or `None` when the system
    /// random source fails.
    pub(crate) fn start(&self) -> Option<String> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).ok()?;
        let id = crate::context::to_hex(&bytes);
        self.lock().push(id.clone(), Instant::now());
        Some(id)
    }

    /// Checks the session named by a request and marks it used.
    pub(crate) fn touch(&self, id: Option<&[u8]>) -> Result<(), SessionError> {
        let id = id.ok_or(SessionError::Missing)?;
        let id = std::str::from_utf8(id).map_err(|_| SessionError::Unknown)?;
        let mut sessions = self.lock();
        let now = Instant::now();
        match sessions.get_mut(id) {
            Some(last_seen) if now.duration_since(*last_seen) <= self.idle_timeout => {
                *last_seen = now;
                Ok(())
            }
            Some(_) => {
                sessions.pop(id);
                Err(SessionError::Unknown)
            }
            None => Err(SessionError::Unknown),
        }
    }

    /// Ends a session.
    pub(crate) fn end(&self, id: Option<&[u8]>) -> Result<(), SessionError> {
        self.touch(id)?;
        let id = id.and_then(|id| std::str::from_utf8(id).ok()).unwrap_or("");
        self.lock().pop(id);
        Ok(())
    }

    /// Number of live (not yet evicted) sessions.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max: usize) -> SessionStore {
        SessionStore::new(NonZeroUsize::new(max).unwrap(), Duration::from_secs(60))
    }

    #[tokio::test(start_paused = true)]
    async fn lifecycle_and_idle_expiry() {
        let store = store(10);
        let id = store.start().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(store.touch(Some(id.as_bytes())), Ok(()));
        assert_eq!(store.touch(None), Err(SessionError::Missing));
        assert_eq!(store.touch(Some(b"nope")), Err(SessionError::Unknown));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(
            store.touch(Some(id.as_bytes())),
            Ok(()),
            "use renews the session"
        );
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(store.touch(Some(id.as_bytes())), Err(SessionError::Unknown));
        assert_eq!(store.len(), 0);

        let id = store.start().unwrap();
        assert_eq!(store.end(Some(id.as_bytes())), Ok(()));
        assert_eq!(store.touch(Some(id.as_bytes())), Err(SessionError::Unknown));
        assert_eq!(store.end(Some(id.as_bytes())), Err(SessionError::Unknown));
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_by_evicting_the_least_recently_used() {
        let store = store(2);
        let a = store.start().unwrap();
        let b = store.start().unwrap();
        store.touch(Some(a.as_bytes())).unwrap();
        let c = store.start().unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.touch(Some(b.as_bytes())), Err(SessionError::Unknown));
        assert!(store.touch(Some(a.as_bytes())).is_ok());
        assert!(store.touch(Some(c.as_bytes())).is_ok());
    }
}
