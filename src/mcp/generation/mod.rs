//! Asynchronous generation: slow context reads become background jobs that clients poll.
//!
//! With [`EndpointBuilder::async_generation`](crate::mcp::EndpointBuilder::async_generation)
//! every context read (REST `GET {rest}/{id}`, MCP `resources/read`) goes through a job table:
//!
//! - **One job per key.** The key is the context id, the selector and the caller (the
//!   principal's identity, as the cache's owner): concurrent reads of one context by one
//!   caller make one source call, and a result is never handed to another caller.
//! - **Short wait.** A read waits for its job up to the configured wait (shortened by a
//!   request deadline); the answer is the context when it is ready by then, else "pending"
//!   with a retry hint. Reading again (the same URL or call) joins the job and waits again,
//!   so a poll is also a short long-poll.
//! - **Pickup.** The readers waiting when the job finishes all get its result (or its error);
//!   the first read after that takes it and the job is forgotten: the next read calls the
//!   source again (a cache in front keeps cacheable results). A result nobody picked up is
//!   dropped after `keep_for`.
//! - **Bounds.** At most `max_jobs` jobs (running, queued or finished), at most
//!   `max_per_caller` of them for one caller (so that one caller cannot fill the table): past
//!   either, reads that would start one are refused with 503 and `Retry-After`. At most `max_concurrent` source
//!   calls run for jobs; the other jobs queue.
//! - **Cancellation.** A job nobody waited for or polled during `abandon_after` is cancelled
//!   (its source call dropped; nothing of it is kept), whatever its result would have been:
//!   the endpoint cannot know before the source answers whether a cache would have kept it.
//!   A job whose source call panicked answers its waiters with an internal error, once.
//!
//! - **Following.** A 2025-era MCP read with a progress token that is still pending after the
//!   wait keeps waiting on its job ([`Follow`]), answered as progress notifications, for up to
//!   `max_stream`; it counts as a waiting reader until it ends or its client hangs up.
//!
//! The source sees the first read's principal, selector and trace context, and no deadline:
//! the job outlives the request that started it.

mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::service::SourceCall;
use crate::context::{ContextEntry, ContextId, ContextSource, SourceError, SourceRequest};

pub use settings::AsyncGeneration;
pub(crate) use settings::Settings;

/// How long before a request's deadline a waiting read answers "pending", so that the
/// pending answer (not the deadline's 504) reaches the client.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// What a read got: the context, or why not (yet).
pub(crate) type Fetched = Result<Arc<ContextEntry>, Unready>;

/// Why a read has no context to show.
#[derive(Debug, Clone)]
pub(crate) enum Unready {
    /// Being generated: come back after this long.
    Pending(Duration),
    /// The job table is full: retry after this long.
    Busy(Duration, Crowd),
    /// The source failed (or said the context does not exist).
    Failed(Arc<SourceError>),
}

impl From<SourceError> for Unready {
    fn from(err: SourceError) -> Self {
        match err {
            SourceError::Pending { retry_after } => Self::Pending(retry_after),
            err => Self::Failed(Arc::new(err)),
        }
    }
}

/// Who is crowding the job table when a read cannot start a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crowd {
    /// The table is full: the server is busy (503).
    Table,
    /// This caller holds its share of jobs: its own excess (429).
    Caller,
}

type Outcome = Result<Arc<ContextEntry>, Arc<SourceError>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct JobKey {
    id: String,
    selector: Option<String>,
    owner: String,
}

/// Who is still interested in a job.
#[derive(Debug)]
struct Activity {
    /// When a reader last stopped waiting (or the job started).
    seen: Instant,
    /// Readers waiting right now.
    waiting: usize,
    /// The job was cancelled for lack of interest.
    abandoned: bool,
}

type SharedActivity = Arc<Mutex<Activity>>;

/// One job in the table.
struct Job {
    outcome: watch::Receiver<Option<Outcome>>,
    activity: SharedActivity,
}

/// The jobs by key, and how many each caller holds.
#[derive(Default)]
struct Entries {
    jobs: HashMap<JobKey, Arc<Job>>,
    per_caller: HashMap<String, usize>,
}

type Table = Arc<Mutex<Entries>>;

/// The job table of one endpoint.
pub(crate) struct Jobs {
    settings: Settings,
    table: Table,
    generations: Arc<Semaphore>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Jobs {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            table: Arc::default(),
            generations: Arc::new(Semaphore::new(settings.max_concurrent.get())),
        }
    }

    /// Jobs in the table (running, queued or finished).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.table).jobs.len()
    }

    /// Reads `id` through the table: joins the caller's job for it or starts one (with
    /// `call` observing the source call), then waits up to the configured wait. With
    /// `follow`, a read still pending after the wait also gets a [`Follow`] to wait on.
    pub(crate) async fn read<S: ContextSource>(
        &self,
        source: &Arc<S>,
        id: &ContextId,
        mut request: SourceRequest,
        call: SourceCall,
        follow: bool,
    ) -> (Fetched, Option<Follow>) {
        let key = JobKey {
            id: id.as_str().to_owned(),
            selector: request
                .selection
                .as_ref()
                .map(crate::context::Selector::canonical),
            owner: request
                .principal
                .as_deref()
                .map_or_else(String::new, |p| p.identity().to_owned()),
        };
        let now = Instant::now();
        let mut until = now + self.settings.wait;
        if let Some(deadline) = request.deadline {
            until = until.min(
                deadline
                    .checked_sub(DEADLINE_MARGIN)
                    .unwrap_or(now)
                    .max(now),
            );
        }
        let (job, start) = {
            let mut table = lock(&self.table);
            let table = &mut *table;
            if let Some(job) = table.jobs.get(&key) {
                (Arc::clone(job), None)
            } else {
                let held = table.per_caller.get(&key.owner).copied().unwrap_or(0);
                let crowd = if table.jobs.len() >= self.settings.max_jobs.get() {
                    Some(Crowd::Table)
                } else if held >= self.settings.max_per_caller.get() {
                    Some(Crowd::Caller)
                } else {
                    None
                };
                if let Some(crowd) = crowd {
                    tracing::warn!(
                        jobs = table.jobs.len(),
                        held,
                        "generation job refused: the table or the caller's share is full"
                    );
                    return (Err(Unready::Busy(self.settings.retry_after, crowd)), None);
                }
                let (sender, outcome) = watch::channel(None);
                let job = Arc::new(Job {
                    outcome,
                    activity: Arc::new(Mutex::new(Activity {
                        seen: now,
                        waiting: 0,
                        abandoned: false,
                    })),
                });
                table.jobs.insert(key.clone(), Arc::clone(&job));
                *table.per_caller.entry(key.owner.clone()).or_default() += 1;
                (job, Some(sender))
            }
        };
        if let Some(sender) = start {
            request.deadline = None;
            self.spawn(
                Arc::clone(source),
                id.clone(),
                request,
                call,
                &key,
                &job,
                sender,
            );
        }
        let ticket = Follow {
            key,
            job,
            table: Arc::clone(&self.table),
            settings: self.settings,
        };
        match ticket.wait(until).await {
            Some(fetched) => (fetched, None),
            None => (
                Err(Unready::Pending(self.settings.retry_after)),
                follow.then_some(ticket),
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn<S: ContextSource>(
        &self,
        source: Arc<S>,
        id: ContextId,
        request: SourceRequest,
        call: SourceCall,
        key: &JobKey,
        job: &Job,
        sender: watch::Sender<Option<Outcome>>,
    ) {
        let forget = Forget {
            table: Arc::clone(&self.table),
            key: key.clone(),
            activity: Arc::clone(&job.activity),
        };
        let activity = Arc::clone(&job.activity);
        let generations = Arc::clone(&self.generations);
        let Settings {
            abandon_after,
            keep_for,
            ..
        } = self.settings;
        tokio::spawn(async move {
            // Removes the job from the table however the task ends (finished, cancelled,
            // panicked), so that no half job stays behind.
            let _forget = forget;
            let generate = async {
                let _permit = generations.acquire_owned().await.ok()?;
                Some(call.run(source.get(&id, &request)).await)
            };
            tokio::select! {
                outcome = generate => {
                    let Some(outcome) = outcome else { return };
                    sender.send_replace(Some(outcome.map(Arc::new).map_err(Arc::new)));
                    // Kept for its pickup; once every reader let go of it, nothing is left
                    // to keep.
                    tokio::select! {
                        () = tokio::time::sleep(keep_for) => {}
                        () = sender.closed() => {}
                    }
                }
                () = abandoned(&activity, abandon_after) => {
                    lock(&activity).abandoned = true;
                    tracing::debug!(context_id = id.as_str(), "generation cancelled: nobody waits for it");
                }
            }
        });
    }
}

/// A pending read that goes on waiting for its job (an MCP read answered with progress
/// notifications). While it waits, the job counts it as a waiting reader; dropped, it counts
/// as a poller leaving.
pub(crate) struct Follow {
    key: JobKey,
    job: Arc<Job>,
    table: Table,
    settings: Settings,
}

impl Follow {
    /// The settings of the job table it came from.
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Waits for the job until `until`: `None` when it is still running then.
    pub(crate) async fn wait(&self, until: Instant) -> Option<Fetched> {
        let _waiting = Waiting::new(&self.job.activity);
        let mut outcome = self.job.outcome.clone();
        let waited = tokio::time::timeout_at(until, async {
            outcome
                .wait_for(Option::is_some)
                .await
                .map(|done| done.clone())
        })
        .await;
        Some(match waited {
            Err(_elapsed) => return None,
            Ok(Ok(Some(outcome))) => {
                self.forget();
                outcome.map_err(|err| match &*err {
                    SourceError::Pending { retry_after } => Unready::Pending(*retry_after),
                    _ => Unready::Failed(err),
                })
            }
            Ok(Ok(None) | Err(_)) => {
                // The job ended without an answer: cancelled just now, or its source call
                // panicked.
                self.forget();
                if lock(&self.job.activity).abandoned {
                    return Some(Err(Unready::Pending(self.settings.retry_after)));
                }
                tracing::error!("a generation job ended without an answer");
                Err(Unready::Failed(Arc::new(SourceError::Internal(
                    "the generation job ended without an answer".into(),
                ))))
            }
        })
    }

    /// Removes the job from the table, unless another job took its place.
    fn forget(&self) {
        remove(&self.table, &self.key, &self.job.activity);
    }
}

fn remove(table: &Table, key: &JobKey, activity: &SharedActivity) {
    let mut table = lock(table);
    let table = &mut *table;
    if table
        .jobs
        .get(key)
        .is_some_and(|current| Arc::ptr_eq(&current.activity, activity))
    {
        table.jobs.remove(key);
        if let Some(held) = table.per_caller.get_mut(&key.owner) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                table.per_caller.remove(&key.owner);
            }
        }
    }
}

/// Resolves once nobody waited for or polled the job during `after`.
async fn abandoned(activity: &Mutex<Activity>, after: Duration) {
    loop {
        let (seen, waiting) = {
            let activity = lock(activity);
            (activity.seen, activity.waiting)
        };
        let now = Instant::now();
        let due = if waiting > 0 {
            now + after
        } else {
            seen + after
        };
        if due <= now {
            return;
        }
        tokio::time::sleep_until(due).await;
    }
}

/// A reader waiting for a job; leaving counts as the job's last sign of interest.
struct Waiting<'a>(&'a Mutex<Activity>);

impl<'a> Waiting<'a> {
    fn new(activity: &'a Mutex<Activity>) -> Self {
        lock(activity).waiting += 1;
        Self(activity)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut activity = lock(self.0);
        activity.waiting = activity.waiting.saturating_sub(1);
        activity.seen = Instant::now();
    }
}

/// Removes a job from the table when its task ends.
struct Forget {
    table: Table,
    key: JobKey,
    activity: SharedActivity,
}

impl Drop for Forget {
    fn drop(&mut self) {
        remove(&self.table, &self.key, &self.activity);
    }
}

#[cfg(test)]
mod tests;
