//! `Mcp-Session-Id` sessions of the stateful protocol era: issued on `initialize`, required on
//! every later request, ended by DELETE or after an idle timeout. Bounded: when the store is
//! full the least recently used session ends (its client gets 404 and initializes again).
//!
//! A session belongs to the principal that opened it (its subject; empty without
//! authentication): anyone else who learns the id gets the same 404 as for an unknown id, so
//! a leaked id can be neither used nor ended, nor confirmed to exist.

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

/// One live session: who opened it and when it was last used.
#[derive(Debug)]
struct Session {
    owner: String,
    last_seen: Instant,
}

/// The live sessions, least recently used first out.
#[derive(Debug)]
pub(crate) struct SessionStore {
    sessions: Mutex<LruCache<String, Session>>,
    idle_timeout: Duration,
}

impl SessionStore {
    pub(crate) fn new(max_sessions: NonZeroUsize, idle_timeout: Duration) -> Self {
        Self {
            sessions: Mutex::new(LruCache::new(max_sessions)),
            idle_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Session>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep serving.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session and returns its id (128 random bits, hex), or `None` when the system
    /// random source fails.
    pub(crate) fn start(&self, owner: &str) -> Option<String> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).ok()?;
        let id = crate::context::to_hex(&bytes);
        let session = Session {
            owner: owner.to_owned(),
            last_seen: Instant::now(),
        };
        self.lock().push(id.clone(), session);
        Some(id)
    }

    /// Checks the session named by a request of `owner` and marks it used.
    pub(crate) fn touch(&self, id: Option<&[u8]>, owner: &str) -> Result<(), SessionError> {
        let id = id.ok_or(SessionError::Missing)?;
        let id = std::str::from_utf8(id).map_err(|_| SessionError::Unknown)?;
        let mut sessions = self.lock();
        let now = Instant::now();
        match sessions.peek_mut(id) {
            // Someone else's session is answered like an unknown one (and not refreshed).
            Some(session) if session.owner != owner => Err(SessionError::Unknown),
            Some(session) if now.duration_since(session.last_seen) <= self.idle_timeout => {
                session.last_seen = now;
                sessions.promote(id);
                Ok(())
            }
            Some(_) => {
                sessions.pop(id);
                Err(SessionError::Unknown)
            }
            None => Err(SessionError::Unknown),
        }
    }

    /// Ends a session of `owner`.
    pub(crate) fn end(&self, id: Option<&[u8]>, owner: &str) -> Result<(), SessionError> {
        self.touch(id, owner)?;
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
        let mallory = store.start("mallory").unwrap();
        // Another principal's session is unknown to alice, and hers to him.
        assert_eq!(
            store.touch(Some(mallory.as_bytes()), "alice"),
            Err(SessionError::Unknown)
        );
        assert_eq!(
            store.end(Some(mallory.as_bytes()), "alice"),
            Err(SessionError::Unknown)
        );
        assert!(store.touch(Some(mallory.as_bytes()), "mallory").is_ok());
        assert_eq!(store.end(Some(mallory.as_bytes()), "mallory"), Ok(()));

        let id = store.start("alice").unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(store.touch(Some(id.as_bytes()), "alice"), Ok(()));
        assert_eq!(store.touch(None, "alice"), Err(SessionError::Missing));
        assert_eq!(
            store.touch(Some(b"nope"), "alice"),
            Err(SessionError::Unknown)
        );
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(
            store.touch(Some(id.as_bytes()), "alice"),
            Ok(()),
            "use renews the session"
        );
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(
            store.touch(Some(id.as_bytes()), "alice"),
            Err(SessionError::Unknown)
        );
        assert_eq!(store.len(), 0);

        let id = store.start("alice").unwrap();
        assert_eq!(store.end(Some(id.as_bytes()), "alice"), Ok(()));
        assert_eq!(
            store.touch(Some(id.as_bytes()), "alice"),
            Err(SessionError::Unknown)
        );
        assert_eq!(
            store.end(Some(id.as_bytes()), "alice"),
            Err(SessionError::Unknown)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_by_evicting_the_least_recently_used() {
        let store = store(2);
        let a = store.start("alice").unwrap();
        let b = store.start("alice").unwrap();
        store.touch(Some(a.as_bytes()), "alice").unwrap();
        let c = store.start("alice").unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.touch(Some(b.as_bytes()), "alice"),
            Err(SessionError::Unknown)
        );
        assert!(store.touch(Some(a.as_bytes()), "alice").is_ok());
        assert!(store.touch(Some(c.as_bytes()), "alice").is_ok());
    }
}
