//! The demo's large JSON context, `project-alpha/build-history`: 500 builds, generated the
//! same way on every run (no randomness, no clock), about 140 KB.

use std::fmt::Write;

use serde_json::{Value, json};

/// How many builds the history holds.
pub(crate) const BUILDS: u64 = 500;

const BRANCHES: [&str; 4] = ["main", "release/1.x", "feature/search", "fix/cache-ttl"];
const AUTHORS: [&str; 5] = ["ada", "grace", "linus", "margaret", "ken"];
/// 2026-01-01T00:00:00Z: the first build starts within the hour after.
const FIRST_BUILD: i64 = 1_767_225_600;

/// A small linear congruential generator: the same "random" figures on every run.
struct Figures(u64);

impl Figures {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// The build history as JSON text: `{"project","pipeline","builds":[...]}`, oldest first.
pub(crate) fn build_history() -> String {
    let mut figures = Figures(0x5eed_a1fa);
    let builds: Vec<Value> = (0..BUILDS)
        .map(|n| {
            let status = match figures.next(100) {
                0..=79 => "passed",
                80..=93 => "failed",
                _ => "cancelled",
            };
            let duration = 240 + figures.next(900);
            let tests = 1200 + n * 2;
            let failed = if status == "failed" {
                1 + figures.next(12)
            } else {
                0
            };
            let commit = (0..5).fold(String::new(), |mut hex, _| {
                let _ = write!(hex, "{:08x}", figures.next(1 << 31));
                hex
            });
            let offset = i64::from(u32::try_from(n).unwrap_or(0)) * 4 * 3600;
            let jitter = i64::from(u32::try_from(figures.next(3600)).unwrap_or(0));
            let started = jiff::Timestamp::from_second(FIRST_BUILD + offset + jitter)
                .map(|at| at.to_string())
                .unwrap_or_default();
            json!({
                "id": format!("alpha-{}", 10_000 + n),
                "number": n + 1,
                "status": status,
                "branch": BRANCHES[usize::try_from(figures.next(4)).unwrap_or(0)],
                "commit": commit,
                "author": AUTHORS[usize::try_from(figures.next(5)).unwrap_or(0)],
                "startedAt": started,
                "durationSeconds": duration,
                "tests": {"total": tests, "passed": tests - failed, "failed": failed},
                "artifacts": [format!("alpha-{}.tar.gz", 10_000 + n)],
            })
        })
        .collect();
    json!({
        "project": "project-alpha",
        "pipeline": "ci/main",
        "builds": builds,
    })
    .to_string()
}
