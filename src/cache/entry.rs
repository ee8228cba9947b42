//! [`Entry`]: a stored answer, serialized once, with what serving it again needs.

use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use tokio::time::Instant;

use crate::context::ContextLabels;

/// What kind of answer an entry holds, which decides how a hit is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A REST body, sent as stored.
    Rest,
    /// A JSON-RPC `result`, spliced into `{"jsonrpc":"2.0","id":…,"result":…}`.
    RpcResult,
    /// A 2026-07-28 JSON-RPC `result`: its `ttlMs` is rewritten to the remaining time.
    ModernRpcResult,
    /// A JSON-RPC "resource not found" `error` (negative caching), spliced like a result.
    RpcNotFound,
}

/// A stored answer.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) shape: Shape,
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) etag: Option<HeaderValue>,
    pub(crate) last_modified: Option<HeaderValue>,
    /// Labels the source gave, re-attached on every hit so the policy re-checks them.
    pub(crate) labels: Option<ContextLabels>,
    /// Shared by every principal (else keyed by one).
    pub(crate) public: bool,
    /// The context it is about, for invalidation by id and prefix (`None`: a listing).
    pub(crate) context_id: Option<String>,
    pub(crate) fresh_until: Instant,
    /// Served stale (and refreshed in the background) until then.
    pub(crate) revalidate_until: Instant,
    /// Served stale when the source fails until then.
    pub(crate) stale_if_error_until: Instant,
    /// Set by the first stale hit, which starts the one background refresh.
    pub(crate) refreshing: AtomicBool,
    /// Its body encoded per coding, built on first use (charged to the budget then).
    #[cfg(feature = "compression")]
    pub(crate) variants: super::variant::Variants,
}

/// How usable an entry is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    /// Past its TTL, within stale-while-revalidate: serve, refresh once in the background.
    Revalidate,
    /// Past both, within stale-if-error: only when the source fails.
    IfError,
    /// Useless: drop it.
    Expired,
}

impl Entry {
    /// Bytes charged to the budget: the body and the headers kept with it.
    pub(crate) fn cost(&self, key_len: usize) -> usize {
        let header = |value: &Option<HeaderValue>| value.as_ref().map_or(0, HeaderValue::len);
        self.body.len()
            + header(&self.content_type)
            + header(&self.etag)
            + header(&self.last_modified)
            + self.context_id.as_ref().map_or(0, String::len)
            + key_len
            + std::mem::size_of::<Self>()
    }

    pub(crate) fn freshness(&self, now: Instant) -> Freshness {
        if now < self.fresh_until {
            Freshness::Fresh
        } else if now < self.revalidate_until {
            Freshness::Revalidate
        } else if now < self.stale_if_error_until {
            Freshness::IfError
        } else {
            Freshness::Expired
        }
    }

    /// Whole seconds of freshness left (0 when stale).
    pub(crate) fn remaining(&self, now: Instant) -> std::time::Duration {
        self.fresh_until.saturating_duration_since(now)
    }
}
