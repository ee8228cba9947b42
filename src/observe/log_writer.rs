//! [`LogWriter`]: log lines gathered in memory and written by a thread of their own, in
//! batches, so that writing a log line costs a request a copy and nothing else.
//!
//! `tracing_appender::non_blocking` sends every line through a channel as a buffer of its own:
//! one allocation per line, freed on another thread (a contended allocator lock), and often a
//! wake-up of the writing thread. At one access line per request that cost as much as
//! formatting the line (measured with `benches/observe_load.rs`). Here a line is appended to
//! one shared buffer under a short lock; the writing thread is woken once per batch, lets the
//! batch fill for a few milliseconds, then swaps buffers and writes it in one call.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How long a batch may gather after its first line before it is written.
const BATCH_DELAY: Duration = Duration::from_millis(5);
/// Default bound on the bytes waiting to be written.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;
/// How long dropping the [`LogWriterGuard`] waits for the last lines to be written.
pub const FLUSH_ON_DROP_TIMEOUT: Duration = Duration::from_secs(2);

/// A [`MakeWriter`] for `tracing-subscriber` that never makes a request wait for the output:
/// lines are kept in memory (at most [`DEFAULT_MAX_PENDING_BYTES`], else
/// [`with_max_pending_bytes`](Self::with_max_pending_bytes)) and written by a background
/// thread within a few milliseconds. When the output cannot keep up, new lines are dropped
/// and counted ([`dropped_lines`](Self::dropped_lines)), never waited for.
///
/// Keep the [`LogWriterGuard`] until the end of `main`: dropping it writes what is left.
///
/// ```
/// use mcp_bastion::observe::{JsonLines, LogWriter};
///
/// let (writer, _flush_on_exit) = LogWriter::new(std::io::stderr());
/// let subscriber = tracing_subscriber::fmt()
///     .fmt_fields(JsonLines)
///     .event_format(JsonLines)
///     .with_writer(writer)
///     .finish();
/// # let _ = subscriber;
/// ```
#[derive(Debug, Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes what is left when dropped, and stops the writing thread.
///
/// It waits at most [`FLUSH_ON_DROP_TIMEOUT`]: an output that does not take the last lines by
/// then (a pipe nobody reads) loses them, and the writing thread is left behind, so that a
/// stuck output never keeps the process from exiting.
#[derive(Debug)]
pub struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    first_line: Condvar,
    /// Signalled when the writing thread has ended.
    finished: Condvar,
    max_pending_bytes: usize,
    dropped_lines: AtomicU64,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
    /// The writing thread has ended (returned or panicked).
    finished: bool,
}

impl LogWriter {
    /// Writes to `output` from a background thread named `mcp-log-writer`.
    ///
    /// # Panics
    ///
    /// When the operating system refuses to start a thread.
    pub fn new<W: Write + Send + 'static>(output: W) -> (Self, LogWriterGuard) {
        Self::with_max_pending_bytes(output, DEFAULT_MAX_PENDING_BYTES)
    }

    /// As [`new`](Self::new), keeping at most `max_pending_bytes` waiting to be written.
    ///
    /// # Panics
    ///
    /// When the operating system refuses to start a thread.
    pub fn with_max_pending_bytes<W: Write + Send + 'static>(
        output: W,
        max_pending_bytes: usize,
    ) -> (Self, LogWriterGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            first_line: Condvar::new(),
            finished: Condvar::new(),
            max_pending_bytes,
            dropped_lines: AtomicU64::new(0),
        });
        let writing = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("mcp-log-writer".into())
            .spawn(move || {
                let _finished = Finished(&writing);
                writing.write_batches(output);
            })
            .expect("a thread for the log writer");
        let guard = LogWriterGuard {
            shared: Arc::clone(&shared),
            thread: Some(thread),
        };
        (Self { shared }, guard)
    }

    /// Lines dropped because the output could not keep up, or failed.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped_lines.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves plain bytes behind: keep going.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one line (the formatter hands each line in one call), or drops it.
    fn append(&self, line: &[u8]) {
        let mut pending = self.lock();
        if pending.closed || pending.bytes.len() + line.len() > self.max_pending_bytes {
            drop(pending);
            self.dropped_lines.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let first = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        drop(pending);
        if first {
            self.first_line.notify_one();
        }
    }

    /// The writing thread: waits for a first line, lets the batch gather, writes it.
    fn write_batches<W: Write>(&self, mut output: W) {
        let mut batch = Vec::new();
        loop {
            let mut pending = self.lock();
            while pending.bytes.is_empty() && !pending.closed {
                pending = self
                    .first_line
                    .wait(pending)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            let closing = pending.closed;
            drop(pending);
            if !closing {
                std::thread::sleep(BATCH_DELAY);
            }
            std::mem::swap(&mut self.lock().bytes, &mut batch);
            // An output that fails (a closed pipe) loses this batch, counted as dropped
            // lines; the next batch tries again.
            if output
                .write_all(&batch)
                .and_then(|()| output.flush())
                .is_err()
            {
                // Rare (a failed write), so a plain count will do.
                #[allow(clippy::naive_bytecount)]
                let lines = batch.iter().filter(|byte| **byte == b'\n').count();
                self.dropped_lines
                    .fetch_add(u64::try_from(lines).unwrap_or(u64::MAX), Ordering::Relaxed);
            }
            batch.clear();
            if closing && self.lock().bytes.is_empty() {
                return;
            }
        }
    }
}

/// Tells the guard that the writing thread has ended, however it ended.
struct Finished<'a>(&'a Shared);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.lock().finished = true;
        self.0.finished.notify_all();
    }
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        let deadline = Instant::now() + FLUSH_ON_DROP_TIMEOUT;
        let mut pending = self.shared.lock();
        pending.closed = true;
        self.shared.first_line.notify_one();
        while !pending.finished {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            pending = self
                .shared
                .finished
                .wait_timeout(pending, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        let finished = pending.finished;
        drop(pending);
        // A thread stuck in its output is left behind rather than waited for.
        if let (true, Some(thread)) = (finished, self.thread.take()) {
            let _ = thread.join();
        }
    }
}

/// What [`LogWriter`] hands the formatter for one line.
#[derive(Debug)]
pub struct LogLine<'a> {
    shared: &'a Shared,
}

impl Write for LogLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.shared.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read after the guard is gone.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_none_is_lost() {
        let output = Collected::default();
        let (writer, guard) = LogWriter::new(output.clone());
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let writer = &writer;
                scope.spawn(move || {
                    for line in 0..500 {
                        let text =
                            format!("thread {thread} line {line} {}\n", "x".repeat(line % 50));
                        writer.make_writer().write_all(text.as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(guard);
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2000);
        for line in lines {
            let mut words = line.split(' ');
            assert_eq!(words.next(), Some("thread"));
            let number: usize = words.nth(2).unwrap().parse().unwrap();
            assert_eq!(words.next().map_or(0, str::len), number % 50, "{line}");
        }
        assert_eq!(writer.dropped_lines(), 0);
    }

    #[test]
    fn lines_an_output_fails_to_take_are_counted_as_dropped() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (writer, guard) = LogWriter::new(Broken);
        for _ in 0..3 {
            writer.make_writer().write_all(b"a line\n").unwrap();
        }
        drop(guard);
        assert_eq!(writer.dropped_lines(), 3);
    }

    #[test]
    fn past_the_bound_lines_are_dropped_and_counted_never_waited_for() {
        /// An output that, once entered, does not finish writing until released.
        struct Stuck(Arc<(Mutex<(bool, bool)>, Condvar)>);
        impl Write for Stuck {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                let (state, wake) = &*self.0;
                let mut state = state.lock().unwrap();
                state.0 = true;
                wake.notify_all();
                while !state.1 {
                    state = wake.wait(state).unwrap();
                }
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new((false, false)), Condvar::new()));
        let (writer, guard) = LogWriter::with_max_pending_bytes(Stuck(Arc::clone(&gate)), 1000);
        // The first batch is taken by the stuck output; then 1000 bytes fit, the rest drop.
        writer.make_writer().write_all(&[b'a'; 100]).unwrap();
        {
            let mut state = gate.0.lock().unwrap();
            while !state.0 {
                state = gate.1.wait(state).unwrap();
            }
        }
        for _ in 0..30 {
            writer.make_writer().write_all(&[b'b'; 100]).unwrap();
        }
        assert_eq!(writer.dropped_lines(), 20);
        gate.0.lock().unwrap().1 = true;
        gate.1.notify_all();
        drop(guard);
    }
}
