//! The circuit's state machine, apart from any service: closed (counting outcomes in a
//! sliding window), open (refusing until a time), half-open (letting a few probes through).

use std::time::Duration;

use tokio::time::Instant;

/// Number of buckets the sliding window is cut into.
const BUCKETS: u32 = 10;

/// The breaker's settings (validated by the builder).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) failure_ratio: f64,
    pub(crate) minimum_calls: u32,
    pub(crate) window: Duration,
    pub(crate) open_for: Duration,
    pub(crate) probes: u32,
}

/// Where the circuit is.
#[derive(Debug)]
pub(crate) enum Circuit {
    Closed(Window),
    Open { until: Instant },
    HalfOpen { in_flight: u32, succeeded: u32 },
}

/// What the breaker says to a call about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go ahead (closed).
    Call,
    /// Go ahead as one of the half-open probes: its outcome decides.
    Probe,
    /// Refused: the circuit is open (or the probes are all out) for about this long.
    Refused(Duration),
}

/// Outcomes in the last `window`, in buckets of `window / BUCKETS`.
#[derive(Debug)]
pub(crate) struct Window {
    /// (start of the bucket, successes, failures), oldest first.
    buckets: std::collections::VecDeque<(Instant, u32, u32)>,
}

impl Window {
    fn new() -> Self {
        Self {
            buckets: std::collections::VecDeque::with_capacity(BUCKETS as usize + 1),
        }
    }

    fn record(&mut self, settings: &Settings, now: Instant, success: bool) {
        let width = settings.window / BUCKETS;
        while self
            .buckets
            .front()
            .is_some_and(|(start, _, _)| now.duration_since(*start) >= settings.window)
        {
            self.buckets.pop_front();
        }
        match self.buckets.back_mut() {
            Some((start, ok, failed)) if now.duration_since(*start) < width => {
                *if success { ok } else { failed } += 1;
            }
            _ => self
                .buckets
                .push_back(if success { (now, 1, 0) } else { (now, 0, 1) }),
        }
    }

    /// (calls, failures) in the window.
    fn totals(&self) -> (u32, u32) {
        self.buckets
            .iter()
            .fold((0, 0), |(calls, failures), (_, ok, failed)| {
                (
                    calls.saturating_add(ok + failed),
                    failures.saturating_add(*failed),
                )
            })
    }
}

/// A state change, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Opened,
    HalfOpened,
    Closed,
}

impl Circuit {
    pub(crate) fn new() -> Self {
        Self::Closed(Window::new())
    }

    /// Whether a call may go now.
    pub(crate) fn admit(
        &mut self,
        settings: &Settings,
        now: Instant,
    ) -> (Admission, Option<Change>) {
        match self {
            Self::Closed(_) => (Admission::Call, None),
            Self::Open { until } if now < *until => (Admission::Refused(*until - now), None),
            Self::Open { .. } => {
                *self = Self::HalfOpen {
                    in_flight: 1,
                    succeeded: 0,
                };
                (Admission::Probe, Some(Change::HalfOpened))
            }
            Self::HalfOpen { in_flight, .. } if *in_flight < settings.probes => {
                *in_flight += 1;
                (Admission::Probe, None)
            }
            // Every probe is out: wait for their outcome.
            Self::HalfOpen { .. } => (Admission::Refused(settings.open_for / BUCKETS), None),
        }
    }

    /// The outcome of an admitted call (`probe`: it was admitted as one).
    pub(crate) fn record(
        &mut self,
        settings: &Settings,
        now: Instant,
        probe: bool,
        success: bool,
    ) -> Option<Change> {
        match self {
            Self::Closed(window) if !probe => {
                window.record(settings, now, success);
                let (calls, failures) = window.totals();
                let ratio = f64::from(failures) / f64::from(calls.max(1));
                (calls >= settings.minimum_calls && ratio >= settings.failure_ratio).then(|| {
                    *self = Self::Open {
                        until: now + settings.open_for,
                    };
                    Change::Opened
                })
            }
            Self::HalfOpen {
                in_flight,
                succeeded,
            } if probe => {
                *in_flight = in_flight.saturating_sub(1);
                if !success {
                    *self = Self::Open {
                        until: now + settings.open_for,
                    };
                    return Some(Change::Opened);
                }
                *succeeded += 1;
                (*succeeded >= settings.probes).then(|| {
                    *self = Self::Closed(Window::new());
                    Change::Closed
                })
            }
            // An outcome from before the last change (a call admitted while closed that ends
            // while open, say): it no longer says anything.
            _ => None,
        }
    }

    /// A probe that ended without an outcome (cancelled): its slot is free again.
    pub(crate) fn abandon_probe(&mut self) {
        if let Self::HalfOpen { in_flight, .. } = self {
            *in_flight = in_flight.saturating_sub(1);
        }
    }
}

/// The circuit and how many times it changed: an outcome counts only in the state that
/// admitted its call. A probe of one half-open round that ends (or is cancelled) in the
/// next, or a call admitted closed that ends after the circuit opened and closed again, no
/// longer says anything about the present state.
#[derive(Debug)]
pub(crate) struct Tracked {
    circuit: Circuit,
    generation: u64,
}

impl Tracked {
    pub(crate) fn new() -> Self {
        Self {
            circuit: Circuit::new(),
            generation: 0,
        }
    }

    fn changed(&mut self, change: Option<Change>) -> Option<Change> {
        if change.is_some() {
            self.generation = self.generation.wrapping_add(1);
        }
        change
    }

    /// Whether a call may go now, and the generation its outcome is to be reported with.
    pub(crate) fn admit(
        &mut self,
        settings: &Settings,
        now: Instant,
    ) -> (Admission, Option<Change>, u64) {
        let (admission, change) = self.circuit.admit(settings, now);
        let change = self.changed(change);
        (admission, change, self.generation)
    }

    /// The outcome of a call admitted in `generation`.
    pub(crate) fn record(
        &mut self,
        settings: &Settings,
        now: Instant,
        generation: u64,
        probe: bool,
        success: bool,
    ) -> Option<Change> {
        if generation != self.generation {
            return None;
        }
        let change = self.circuit.record(settings, now, probe, success);
        self.changed(change)
    }

    /// A probe admitted in `generation` that ended without an outcome.
    pub(crate) fn abandon_probe(&mut self, generation: u64) {
        if generation == self.generation {
            self.circuit.abandon_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            failure_ratio: 0.5,
            minimum_calls: 4,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(30),
            probes: 2,
        }
    }

    #[test]
    fn opens_at_the_ratio_once_enough_calls_were_seen() {
        let settings = settings();
        let now = Instant::now();
        let mut circuit = Circuit::new();
        // Three failures: below the minimum number of calls.
        for _ in 0..3 {
            assert_eq!(circuit.record(&settings, now, false, false), None);
        }
        assert_eq!(circuit.admit(&settings, now).0, Admission::Call);
        assert_eq!(
            circuit.record(&settings, now, false, false),
            Some(Change::Opened)
        );
        assert_eq!(
            circuit.admit(&settings, now).0,
            Admission::Refused(Duration::from_secs(30))
        );
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let settings = settings();
        let start = Instant::now();
        let mut circuit = Circuit::new();
        for _ in 0..3 {
            circuit.record(&settings, start, false, false);
        }
        // Eleven seconds later the three failures are gone: one more does not open it.
        let later = start + Duration::from_secs(11);
        assert_eq!(circuit.record(&settings, later, false, false), None);
        for _ in 0..3 {
            circuit.record(&settings, later, false, true);
        }
        assert!(matches!(circuit, Circuit::Closed(_)));
    }

    #[test]
    fn half_open_lets_the_probes_through_and_closes_on_their_success() {
        let settings = settings();
        let now = Instant::now();
        let mut circuit = Circuit::Open { until: now };
        assert_eq!(
            circuit.admit(&settings, now),
            (Admission::Probe, Some(Change::HalfOpened))
        );
        assert_eq!(circuit.admit(&settings, now).0, Admission::Probe);
        assert!(matches!(
            circuit.admit(&settings, now).0,
            Admission::Refused(_)
        ));
        assert_eq!(circuit.record(&settings, now, true, true), None);
        assert_eq!(
            circuit.record(&settings, now, true, true),
            Some(Change::Closed)
        );
        assert_eq!(circuit.admit(&settings, now).0, Admission::Call);
    }

    #[test]
    fn a_failed_probe_opens_it_again_and_a_cancelled_one_frees_its_slot() {
        let settings = settings();
        let now = Instant::now();
        let mut circuit = Circuit::Open { until: now };
        circuit.admit(&settings, now);
        circuit.admit(&settings, now);
        circuit.abandon_probe();
        assert_eq!(circuit.admit(&settings, now).0, Admission::Probe);
        assert_eq!(
            circuit.record(&settings, now, true, false),
            Some(Change::Opened)
        );
        // A late success of a probe from before does not close it.
        assert_eq!(circuit.record(&settings, now, true, true), None);
        assert!(matches!(circuit, Circuit::Open { .. }));
    }
}
