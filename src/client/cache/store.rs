//! The client cache's entries: keyed by URI and credential, bounded by count and bytes, with
//! their freshness and validators.

use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, header};
use lru::LruCache;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Which stored answer a request may use: the URI and a digest of its credential, so that one
/// caller's answer never serves another (the credential itself is not kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    uri: String,
    credential: [u8; 32],
}

/// The request headers a [`Key`] holds (as a digest): the credentials, `Host` (with a
/// relative URI, a connection-level client, it names the server), and `Accept-Encoding` (a
/// compressing server varies on it; each encoding asked for is stored apart).
const KEYED_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "cookie",
    "host",
    "accept-encoding",
];

/// Whether an answer's `Vary` names only headers the key already holds (the server's
/// `Vary: authorization, x-api-key` on an authenticated answer): such an answer is kept, as no
/// other value of those headers can find it. Any other `Vary`, `*` included, is not.
pub(crate) fn varies_only_on_key(headers: &HeaderMap) -> bool {
    headers.get_all(header::VARY).iter().all(|value| {
        value.to_str().is_ok_and(|names| {
            names
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .all(|name| {
                    KEYED_HEADERS
                        .iter()
                        .any(|keyed| keyed.eq_ignore_ascii_case(name))
                })
        })
    })
}

impl Key {
    pub(crate) fn of<B>(request: &Request<B>) -> Self {
        let mut digest = Sha256::new();
        for name in KEYED_HEADERS {
            for value in request.headers().get_all(name) {
                digest.update(name.as_bytes());
                digest.update(b":");
                digest.update(value.as_bytes());
                digest.update(b"\n");
            }
        }
        Self {
            uri: request.uri().to_string(),
            credential: digest.finalize().into(),
        }
    }

    fn size(&self) -> usize {
        self.uri.len() + 32
    }
}

/// A stored `200` answer.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Until when it may be used without asking the server.
    pub(crate) fresh_until: Instant,
}

impl Entry {
    pub(crate) fn etag(&self) -> Option<&HeaderValue> {
        self.headers.get(header::ETAG)
    }

    pub(crate) fn last_modified(&self) -> Option<&HeaderValue> {
        self.headers.get(header::LAST_MODIFIED)
    }

    fn size(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len())
                .sum::<usize>()
    }
}

/// How long an answer stays fresh, or `None` when it must not be kept: `no-store`, or
/// nothing to revalidate with and no `max-age`.
pub(crate) fn freshness(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    let mut no_cache = false;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            return None;
        };
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive
                .split_once('=')
                .map_or((directive, None), |(name, argument)| (name, Some(argument)));
            match name.to_ascii_lowercase().as_str() {
                "no-store" => return None,
                "no-cache" => no_cache = true,
                "max-age" => {
                    // A malformed max-age makes the answer stale (RFC 9111 §4.2.1).
                    max_age = Some(
                        argument
                            .and_then(|seconds| seconds.trim_matches('"').parse::<u64>().ok())
                            .unwrap_or(0),
                    );
                }
                _ => {}
            }
        }
    }
    let validators =
        headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED);
    let age = headers
        .get(header::AGE)
        .and_then(|age| age.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let lifetime = if no_cache {
        0
    } else {
        max_age.unwrap_or(0).saturating_sub(age)
    };
    (validators || lifetime > 0).then(|| Duration::from_secs(lifetime.min(365 * 24 * 3600)))
}

/// What a `304` made of a stored answer.
#[derive(Debug)]
pub(crate) enum Refreshed {
    /// Fresh again (or revalidated each time: `no-cache`), and kept.
    Kept(Entry),
    /// Usable for this answer, no longer kept.
    Once(Entry),
    /// No usable stored answer (pushed out meanwhile, or another version).
    Gone,
}

/// The entries, least recently used first out.
#[derive(Debug)]
pub(crate) struct Store {
    entries: LruCache<Key, Entry>,
    bytes: usize,
    max_bytes: usize,
}

impl Store {
    pub(crate) fn new(max_entries: NonZeroUsize, max_bytes: usize) -> Self {
        Self {
            entries: LruCache::new(max_entries),
            bytes: 0,
            max_bytes,
        }
    }

    pub(crate) fn get(&mut self, key: &Key) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Keeps `entry`, pushing out the least recently used until it fits.
    pub(crate) fn put(&mut self, key: Key, entry: Entry) {
        let size = key.size() + entry.size();
        self.remove(&key);
        if size > self.max_bytes {
            return;
        }
        while self.bytes + size > self.max_bytes {
            let Some((old_key, old)) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= old_key.size() + old.size();
        }
        if let Some((old_key, old)) = self.entries.push(key, entry) {
            self.bytes -= old_key.size() + old.size();
        }
        self.bytes += size;
    }

    pub(crate) fn remove(&mut self, key: &Key) {
        if let Some(old) = self.entries.pop(key) {
            self.bytes -= key.size() + old.size();
        }
    }

    /// After a `304` (RFC 9111 §4.3.4): the stored answer with the headers the `304`
    /// updated, kept again for as long as the merged headers allow.
    pub(crate) fn refresh(&mut self, key: &Key, updated: &HeaderMap, now: Instant) -> Refreshed {
        let Some(mut entry) = self.entries.pop(key) else {
            return Refreshed::Gone;
        };
        self.bytes -= key.size() + entry.size();
        // A 304 for another version: the stored body is not the one it validates.
        if let (Some(stored), Some(new)) = (entry.etag(), updated.get(header::ETAG))
            && stored != new
        {
            return Refreshed::Gone;
        }
        // The stored Age is the original answer's; the 304 says how old it is now.
        entry.headers.remove(header::AGE);
        for name in [
            header::CACHE_CONTROL,
            header::ETAG,
            header::LAST_MODIFIED,
            header::EXPIRES,
            header::DATE,
            header::AGE,
        ] {
            if let Some(value) = updated.get(&name) {
                entry.headers.insert(name, value.clone());
            }
        }
        match freshness(&entry.headers) {
            // Now `no-store`: served this once, not kept.
            None => Refreshed::Once(entry),
            Some(lifetime) => {
                entry.fresh_until = now + lifetime;
                self.put(key.clone(), entry.clone());
                Refreshed::Kept(entry)
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn freshness_follows_cache_control_and_validators() {
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(
            freshness(&headers(&[("cache-control", "max-age=60")])),
            secs(60)
        );
        assert_eq!(
            freshness(&headers(&[
                ("cache-control", "private, max-age=60"),
                ("age", "20")
            ])),
            secs(40)
        );
        assert_eq!(
            freshness(&headers(&[
                ("cache-control", "no-store"),
                ("etag", "\"a\"")
            ])),
            None
        );
        assert_eq!(
            freshness(&headers(&[
                ("cache-control", "no-cache, max-age=60"),
                ("etag", "\"a\"")
            ])),
            secs(0)
        );
        assert_eq!(freshness(&headers(&[("etag", "\"a\"")])), secs(0));
        assert_eq!(freshness(&headers(&[])), None);
        assert_eq!(
            freshness(&headers(&[("cache-control", "max-age=abc")])),
            None
        );
        assert_eq!(
            freshness(&headers(&[("cache-control", "max-age=99999999999999")])),
            secs(365 * 24 * 3600)
        );
    }

    #[test]
    fn the_store_keeps_within_its_bytes_and_counts_them_back() {
        let mut store = Store::new(NonZeroUsize::new(100).unwrap(), 1000);
        let key = |n: usize| Key {
            uri: format!("/context/{n}"),
            credential: [0; 32],
        };
        let entry = |len: usize| Entry {
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; len]),
            fresh_until: Instant::now(),
        };
        for n in 0..10 {
            store.put(key(n), entry(300));
            assert!(store.bytes() <= 1000);
        }
        assert!(store.len() <= 3);
        // Too large for the whole store: not kept.
        store.put(key(99), entry(5000));
        assert!(store.get(&key(99)).is_none());
        for n in 0..10 {
            store.remove(&key(n));
        }
        assert_eq!(store.bytes(), 0);
    }
}
