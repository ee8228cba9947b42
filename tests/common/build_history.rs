//! Realistic large JSON for the compression tests and benchmark: a CI build history.
//! Shared by `src/compression/tests.rs`, `tests/compression.rs` and `benches/compression.rs`.

use std::fmt::Write as _;

/// A realistic large JSON context: the build history of `builds` CI builds.
pub(crate) fn build_history(builds: usize) -> String {
    let mut out = String::from("{\"project\":\"project-alpha\",\"builds\":[");
    // Commit ids are random-looking, like real SHA-1s (they do not compress).
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for n in 0..builds {
        if n > 0 {
            out.push(',');
        }
        let status = ["passed", "passed", "passed", "failed", "cancelled"][n % 5];
        let _ = write!(
            out,
            "{{\"number\":{},\"commit\":\"{:016x}{:016x}{:08x}\",\"branch\":\"{}\",\"status\":\"{status}\",\
             \"startedAt\":\"2026-{:02}-{:02}T{:02}:{:02}:00Z\",\"durationSeconds\":{},\
             \"author\":\"dev{}@example.com\",\"steps\":[{{\"name\":\"build\",\"seconds\":{}}},\
             {{\"name\":\"test\",\"seconds\":{},\"passed\":{},\"failed\":{}}},\
             {{\"name\":\"deploy\",\"seconds\":{}}}]}}",
            1000 + n,
            next(),
            next(),
            next() >> 32,
            ["main", "release/2.4", "feature/cache", "fix/login"][n % 4],
            1 + n % 12,
            1 + n % 28,
            n % 24,
            (n * 7) % 60,
            60 + (n * 37) % 900,
            n % 17,
            20 + (n * 13) % 200,
            40 + (n * 29) % 600,
            1200 + n % 40,
            usize::from(n % 5 == 3) * (1 + n % 3),
            5 + n % 30,
        );
    }
    out.push_str("]}");
    out
}
