//! [`AsyncGeneration`]: the settings of asynchronous generation, given to
//! [`EndpointBuilder::async_generation`](crate::mcp::EndpointBuilder::async_generation).

use std::num::NonZeroUsize;
use std::time::Duration;

use crate::error::ConfigError;
use crate::mcp::endpoint::{
    DEFAULT_GENERATION_ABANDON_AFTER, DEFAULT_GENERATION_KEEP_FOR, DEFAULT_GENERATION_MAX_STREAM,
    DEFAULT_GENERATION_PROGRESS_EVERY, DEFAULT_GENERATION_RETRY_AFTER, DEFAULT_GENERATION_WAIT,
    DEFAULT_MAX_CONCURRENT_GENERATIONS, DEFAULT_MAX_GENERATION_JOBS,
    DEFAULT_MAX_GENERATION_JOBS_PER_CALLER,
};

/// How the endpoint turns slow context reads into background generation jobs.
///
/// A read waits for its context up to [`wait`](Self::wait); when the source has not answered
/// by then, the read is answered "pending" (REST `202 Accepted` with `Retry-After` and
/// `Location`; MCP a pending result) and the source call goes on in a background job. Reads
/// of the same context (same selector, same principal) join the job instead of calling the
/// source again, and the first one after it finished takes its result. A job nobody asked
/// about for [`abandon_after`](Self::abandon_after) is cancelled; a finished result nobody
/// picked up is dropped after [`keep_for`](Self::keep_for).
///
/// ```
/// use std::time::Duration;
/// use mcp_bastion::mcp::{AsyncGeneration, Endpoint};
///
/// let endpoint = Endpoint::builder()
///     .async_generation(
///         AsyncGeneration::new()
///             .wait(Duration::from_secs(1))
///             .max_jobs(256)
///             .max_concurrent(8),
///     )
///     .build()?;
/// # let _ = endpoint;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct AsyncGeneration {
    pub(crate) wait: Duration,
    pub(crate) retry_after: Duration,
    pub(crate) abandon_after: Duration,
    pub(crate) keep_for: Duration,
    pub(crate) progress_every: Duration,
    pub(crate) max_stream: Duration,
    pub(crate) max_jobs: usize,
    pub(crate) max_per_caller: usize,
    pub(crate) max_concurrent: usize,
}

impl Default for AsyncGeneration {
    fn default() -> Self {
        Self {
            wait: DEFAULT_GENERATION_WAIT,
            retry_after: DEFAULT_GENERATION_RETRY_AFTER,
            abandon_after: DEFAULT_GENERATION_ABANDON_AFTER,
            keep_for: DEFAULT_GENERATION_KEEP_FOR,
            progress_every: DEFAULT_GENERATION_PROGRESS_EVERY,
            max_stream: DEFAULT_GENERATION_MAX_STREAM,
            max_jobs: DEFAULT_MAX_GENERATION_JOBS,
            max_per_caller: DEFAULT_MAX_GENERATION_JOBS_PER_CALLER,
            max_concurrent: DEFAULT_MAX_CONCURRENT_GENERATIONS,
        }
    }
}

impl AsyncGeneration {
    /// The defaults (2 s wait, 1 s retry hint, 30 s abandonment, 60 s pickup, progress every
    /// 1 s for at most 60 s, 1,024 jobs, 64 per caller, 32 concurrent generations).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a read (or a poll) waits for the context before answering "pending"
    /// (default 2 s). A request deadline set in front
    /// ([`OverloadLayer`](crate::overload::OverloadLayer)) shortens it.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The `Retry-After` of a pending answer when the source gave no estimate (default 1 s;
    /// sent in whole seconds, rounded up).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// A job nobody waited for or polled during this time is cancelled (default 30 s). It must
    /// be longer than `retry_after`, so that a client following the hint keeps its job.
    pub fn abandon_after(mut self, after: Duration) -> Self {
        self.abandon_after = after;
        self
    }

    /// How long a finished result waits for its pickup (default 60 s).
    pub fn keep_for(mut self, keep: Duration) -> Self {
        self.keep_for = keep;
        self
    }

    /// How often a read answered with progress notifications gets one (default 1 s).
    ///
    /// A 2025-era `resources/read` that carries `params._meta.progressToken` and whose
    /// context is not ready within [`wait`](Self::wait) is answered with a server-sent event
    /// stream: a `notifications/progress` message for that token at once and then every
    /// `progress_every`, then the read's response, then the end of the stream.
    pub fn progress_every(mut self, every: Duration) -> Self {
        self.progress_every = every;
        self
    }

    /// The longest such a stream lasts (default 60 s): a context not ready by then ends it
    /// with the pending result, and the client reads again as it would have after a pending
    /// answer.
    pub fn max_stream(mut self, max: Duration) -> Self {
        self.max_stream = max;
        self
    }

    /// Most jobs (running, queued or finished) at once (default 1,024); past it, reads that
    /// would start one are answered 503 with `Retry-After`. Finished results wait in the table
    /// for their pickup, so it holds at most this many contexts.
    pub fn max_jobs(mut self, max: usize) -> Self {
        self.max_jobs = max;
        self
    }

    /// Most jobs one caller (one principal; every anonymous caller together) holds at once
    /// (default 64), so that one caller cannot fill the table; past it, that caller's reads
    /// that would start a job are answered 429 (the caller's own excess) with `Retry-After`.
    pub fn max_per_caller(mut self, max: usize) -> Self {
        self.max_per_caller = max;
        self
    }

    /// Most source calls running at once for jobs (default 32); further jobs queue.
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = max;
        self
    }

    /// Checks the settings.
    pub(crate) fn validate(self) -> Result<Settings, ConfigError> {
        let count = |what: &str, n: usize| {
            NonZeroUsize::new(n).ok_or_else(|| {
                ConfigError::new(format!("async generation {what} must be at least 1"))
            })
        };
        let max_jobs = count("max_jobs", self.max_jobs)?;
        let max_concurrent = count("max_concurrent", self.max_concurrent)?;
        let max_per_caller = count("max_per_caller", self.max_per_caller)?;
        if self.retry_after.is_zero() || self.keep_for.is_zero() {
            return Err(ConfigError::new(
                "async generation retry_after and keep_for must be longer than zero",
            ));
        }
        if self.progress_every.is_zero() || self.max_stream < self.progress_every {
            return Err(ConfigError::new(
                "async generation progress_every must be longer than zero and max_stream at least as long",
            ));
        }
        if self.abandon_after <= self.retry_after.max(self.wait) {
            return Err(ConfigError::new(
                "async generation abandon_after must be longer than retry_after and wait, or clients following the hint lose their jobs",
            ));
        }
        Ok(Settings {
            wait: self.wait,
            retry_after: self.retry_after,
            abandon_after: self.abandon_after,
            keep_for: self.keep_for,
            progress_every: self.progress_every,
            max_stream: self.max_stream,
            max_jobs,
            max_per_caller,
            max_concurrent,
        })
    }
}

/// Validated settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) wait: Duration,
    pub(crate) retry_after: Duration,
    pub(crate) abandon_after: Duration,
    pub(crate) keep_for: Duration,
    pub(crate) progress_every: Duration,
    pub(crate) max_stream: Duration,
    pub(crate) max_jobs: NonZeroUsize,
    pub(crate) max_per_caller: NonZeroUsize,
    pub(crate) max_concurrent: NonZeroUsize,
}
