//! Rate limits and load shedding under load, over loopback sockets: a plain program
//! (`harness = false`, no criterion) printing figures and checking them.
//!
//! 1. **Quotas.** `server::serve` runs a `Stack` (two API keys: a guest and a developer;
//!    a policy letting both read and list everything; quotas guest 60/min burst 10,
//!    developer 600/min burst 50, default guest) on 127.0.0.1. For `RL_LOAD_SECONDS`
//!    (default 20) one task sends guest `GET /context/docs/readme` back to back on a
//!    keep-alive connection, another sends developer requests at a steady 5 per second.
//!    Prints the 200 and 429 counts per second, the guest's accepted rate after its burst
//!    (expected 60/min ±10%), the developer's 429s (expected 0), whether every 429 carried
//!    `Retry-After` ≥ 1, `RateLimit-Policy` and `RateLimit`, and one 429 in full.
//! 2. **Memory.** `VmRSS` before and after charging 1,000,000 distinct keys to limits with
//!    `max_keys` 1,000,000: the difference, the bytes per tracked key, the store's counters.
//! 3. **Shedding.** `OverloadLayer` with `max_concurrent` 8 in front of a source that takes
//!    2 s, served on 127.0.0.1; 64 requests at once (each with a 10 s timeout): how many got
//!    200 and 503, the 503 latencies (min, median, p99, max), and that none hung.
//!
//! ```text
//! cargo bench --bench rate_limit_load
//! RL_LOAD_SECONDS=60 cargo bench --bench rate_limit_load
//! RL_LOAD_PHASES=memory cargo bench --bench rate_limit_load   # quotas,memory,shedding
//! ```
//!
//! Exits with status 1 when a figure is outside what is expected.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer};
use mcp_bastion::context::{ContextEntry, ContextId, SourceRequest, StaticSource, source_fn};
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::{Endpoint, McpService, ResourceMetadata};
use mcp_bastion::overload::OverloadLayer;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::rate_limit::{
    QuotaRule, RATELIMIT, RATELIMIT_POLICY, RateLimitConfig, RateLimitStore, StoreAnswer, Verdict,
};
use mcp_bastion::server::{HttpBody, HttpService};
use mcp_bastion::stack::Stack;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::ServiceBuilder;

type Error = Box<dyn std::error::Error + Send + Sync>;
type HttpClient = Client<HttpConnector, Full<Bytes>>;

const GUEST_KEY: &str = "load-guest-key";
const DEVELOPER_KEY: &str = "load-developer-key";
const CONTEXT: &str = "docs/readme";
/// The guest quota: per minute, at once.
const GUEST_PER_MINUTE: u32 = 60;
const GUEST_BURST: u32 = 10;
/// Developer requests per second (its quota allows 10).
const DEVELOPER_PER_SECOND: u32 = 5;
/// Keys charged in the memory phase.
const MEMORY_KEYS: usize = 1_000_000;
/// Shedding: the limit, the requests sent at once, how long the source takes.
const MAX_CONCURRENT: usize = 8;
const SHED_REQUESTS: usize = 64;
const SLOW_SOURCE: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> Result<(), Error> {
    let seconds = match std::env::var("RL_LOAD_SECONDS") {
        Ok(value) => value
            .parse::<u64>()
            .map_err(|_| format!("RL_LOAD_SECONDS must be a whole number, not {value:?}"))?,
        Err(_) => 20,
    };
    let phases =
        std::env::var("RL_LOAD_PHASES").unwrap_or_else(|_| "quotas,memory,shedding".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut checks = Checks::default();
    for phase in phases.split(',').map(str::trim) {
        match phase {
            "quotas" => runtime.block_on(quotas(Duration::from_secs(seconds), &mut checks))?,
            "memory" => {
                // The store reads Tokio's clock.
                let _context = runtime.enter();
                memory(&mut checks)?;
            }
            "shedding" => runtime.block_on(shedding(&mut checks))?,
            other => return Err(format!("unknown phase {other:?} in RL_LOAD_PHASES").into()),
        }
    }
    println!();
    if checks.failed.is_empty() {
        println!("all {} checks as expected", checks.passed);
        Ok(())
    } else {
        println!(
            "{} of {} checks NOT as expected:",
            checks.failed.len(),
            checks.passed + checks.failed.len()
        );
        for failure in &checks.failed {
            println!("  - {failure}");
        }
        std::process::exit(1);
    }
}

/// Expectations met and missed.
#[derive(Debug, Default)]
struct Checks {
    passed: usize,
    failed: Vec<String>,
}

impl Checks {
    fn expect(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        println!("  [{}] {what}", if ok { "ok" } else { "UNEXPECTED" });
        if ok {
            self.passed += 1;
        } else {
            self.failed.push(what);
        }
    }
}

/// A server on an ephemeral loopback port.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `service` on `listener` (from within the runtime).
    fn start<S, B>(listener: TcpListener, service: S) -> Result<Self, Error>
    where
        S: HttpService<B>,
        B: HttpBody,
    {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(mcp_bastion::server::serve(listener, service, async {
            let _ = stopped.await;
        }));
        Ok(Self { addr, stop, task })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(self) -> Result<(), Error> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A response read to its end.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn read(response: Response<Incoming>) -> Result<Answer, Error> {
    let (parts, body) = response.into_parts();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await?.to_bytes(),
    })
}

fn get(url: &str, key: &str) -> Result<Request<Full<Bytes>>, Error> {
    Ok(Request::get(url)
        .header("x-api-key", key)
        .body(Full::default())?)
}

// ---------------------------------------------------------------------------------------
// Phase 1: quotas.

/// What one caller saw.
#[derive(Debug, Default)]
struct Tally {
    /// `[200s, 429s]` per second since the start.
    per_second: Vec<[u64; 2]>,
    /// Answers neither 200 nor 429.
    other: Vec<StatusCode>,
    /// When each 200 arrived, since the start.
    accepted_at: Vec<Duration>,
    /// 429s without `Retry-After` ≥ 1, `RateLimit-Policy` or `RateLimit`.
    bad_429: u64,
    /// 200s without `RateLimit-Policy` or `RateLimit`.
    bad_200: u64,
    /// The first 429, in full.
    sample_429: Option<String>,
}

impl Tally {
    fn record(&mut self, at: Duration, answer: &Answer) {
        let second = usize::try_from(at.as_secs()).unwrap_or(usize::MAX);
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, [0, 0]);
        }
        let has_fields =
            answer.headers.contains_key(RATELIMIT_POLICY) && answer.headers.contains_key(RATELIMIT);
        match answer.status {
            StatusCode::OK => {
                self.per_second[second][0] += 1;
                self.accepted_at.push(at);
                self.bad_200 += u64::from(!has_fields);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                self.per_second[second][1] += 1;
                let retry_after = answer
                    .headers
                    .get(header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse::<u64>().ok());
                self.bad_429 += u64::from(!(has_fields && retry_after.is_some_and(|s| s >= 1)));
                if self.sample_429.is_none() {
                    self.sample_429 = Some(show(answer));
                }
            }
            other => self.other.push(other),
        }
    }

    fn total(&self, column: usize) -> u64 {
        self.per_second.iter().map(|counts| counts[column]).sum()
    }
}

/// A response as it would appear on the wire (HTTP/1.1).
fn show(answer: &Answer) -> String {
    let mut text = format!(
        "HTTP/1.1 {} {}\n",
        answer.status.as_str(),
        answer.status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &answer.headers {
        let _ = writeln!(
            text,
            "{name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&answer.body));
    text
}

async fn quotas(duration: Duration, checks: &mut Checks) -> Result<(), Error> {
    println!(
        "== phase 1: quotas over loopback for {} s",
        duration.as_secs()
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let endpoint = Endpoint::builder()
        .resource_metadata(ResourceMetadata::new(&format!("http://{addr}/mcp"))?)
        .build()?;
    let keys = ApiKeyStore::new([
        ApiKey::new(
            GUEST_KEY,
            Principal::new("loadGuest", AuthMethod::ApiKey).with_role("guest"),
        )?,
        ApiKey::new(
            DEVELOPER_KEY,
            Principal::new("loadDeveloper", AuthMethod::ApiKey).with_role("developer"),
        )?,
    ])?;
    let policy = PolicyHandle::new(Policy::from_toml(
        r#"
        roles = ["guest", "developer"]
        [[rules]]
        id = "everyone-reads"
        effect = "allow"
        roles = ["guest", "developer"]
        actions = ["read", "list"]
        contexts = ["**"]
        "#,
    )?);
    let limits = RateLimitConfig::default()
        .quota("guest", GUEST_PER_MINUTE, 60, GUEST_BURST)
        .quota("developer", 600, 60, 50)
        .rule(QuotaRule::role("developer", "developer"))
        .default_quota("guest")
        .build()?;
    let source = StaticSource::new().with_context(
        ContextId::parse(CONTEXT)?,
        ContextEntry::text("markdown", "text", "# Readme\nUnder load."),
    );
    let service = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(policy)
        .rate_limits(limits.clone())
        .serve_source(source)?;
    let server = Server::start(listener, service)?;
    let url = server.url(&format!("/context/{CONTEXT}"));

    let start = Instant::now();
    let end = start + duration;
    let guest = tokio::spawn(guest_flood(client(), url.clone(), start, end));
    let developer = tokio::spawn(developer_steady(client(), url, start, end));
    let (guest, guest_requests) = guest.await??;
    let developer = developer.await??;
    server.stop().await?;

    println!(
        "  second  guest 200  guest 429  developer 200  developer 429   (guest: {guest_requests} requests, one at a time)"
    );
    let seconds = guest.per_second.len().max(developer.per_second.len());
    for second in 0..seconds {
        let g = guest.per_second.get(second).copied().unwrap_or_default();
        let d = developer
            .per_second
            .get(second)
            .copied()
            .unwrap_or_default();
        println!(
            "  {second:>6}  {:>9}  {:>9}  {:>13}  {:>13}",
            g[0], g[1], d[0], d[1]
        );
    }
    let (guest_200, guest_429) = (guest.total(0), guest.total(1));
    let (developer_200, developer_429) = (developer.total(0), developer.total(1));
    println!("  total   {guest_200:>9}  {guest_429:>9}  {developer_200:>13}  {developer_429:>13}");

    // After the burst, the GCRA lets one request through every 60 s / 60 = 1 s.
    let burst = usize::try_from(GUEST_BURST)?;
    let elapsed = duration.as_secs_f64();
    let after_burst = guest.accepted_at.get(burst..).unwrap_or_default();
    let burst_end = guest
        .accepted_at
        .get(burst - 1)
        .map_or(0.0, Duration::as_secs_f64);
    let over_run = per_minute(approx(after_burst.len()), elapsed - burst_end);
    let spacing = match (after_burst.first(), after_burst.last()) {
        (Some(first), Some(last)) if after_burst.len() > 1 => per_minute(
            approx(after_burst.len() - 1),
            last.saturating_sub(*first).as_secs_f64(),
        ),
        _ => 0.0,
    };
    println!(
        "  guest accepted after the burst of {burst}: {} in {:.2} s = {over_run:.1}/min \
         (from the spacing of those accepts: {spacing:.1}/min)",
        after_burst.len(),
        elapsed - burst_end
    );
    let expected = f64::from(GUEST_PER_MINUTE);
    checks.expect(
        (over_run - expected).abs() <= expected * 0.1,
        format!("guest accepted {over_run:.1}/min after its burst (60/min ±10%)"),
    );
    checks.expect(
        guest.accepted_at.len() >= burst
            && guest.accepted_at[burst - 1] < Duration::from_millis(900),
        format!("the guest's first {burst} requests passed at once (its burst)"),
    );
    checks.expect(
        developer_429 == 0,
        format!("developer 429s: {developer_429} (expected 0, {developer_200} accepted)"),
    );
    let expected_developer = duration.as_secs() * u64::from(DEVELOPER_PER_SECOND);
    checks.expect(
        developer_200.abs_diff(expected_developer) <= u64::from(DEVELOPER_PER_SECOND),
        format!(
            "developer sent about {expected_developer} requests at 5/s: {developer_200} accepted"
        ),
    );
    checks.expect(
        guest.bad_429 == 0 && developer.bad_429 == 0,
        format!(
            "every 429 ({}) had Retry-After >= 1, RateLimit-Policy and RateLimit (missing: {})",
            guest_429 + developer_429,
            guest.bad_429 + developer.bad_429
        ),
    );
    checks.expect(
        guest.bad_200 == 0 && developer.bad_200 == 0,
        format!(
            "every 200 had RateLimit-Policy and RateLimit (missing: {})",
            guest.bad_200 + developer.bad_200
        ),
    );
    checks.expect(
        guest.other.is_empty() && developer.other.is_empty(),
        format!(
            "no answer other than 200 or 429 (guest {:?}, developer {:?})",
            guest.other, developer.other
        ),
    );
    println!("  store: {:?}", limits.stats());
    match &guest.sample_429 {
        Some(sample) => {
            println!("  one 429 in full:");
            for line in sample.lines() {
                println!("    | {line}");
            }
        }
        None => checks.expect(false, "the guest was refused at least once"),
    }
    Ok(())
}

/// A count or a size as a float, for printing and ratios (all far below 2^52).
#[allow(clippy::cast_precision_loss)]
fn approx(n: usize) -> f64 {
    n as f64
}

/// [`approx`] for a `u64`.
#[allow(clippy::cast_precision_loss)]
fn approx_u64(n: u64) -> f64 {
    n as f64
}

fn per_minute(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count * 60.0 / seconds
    } else {
        0.0
    }
}

/// Guest requests back to back until `end`; the tally and the number of requests sent.
async fn guest_flood(
    client: HttpClient,
    url: String,
    start: Instant,
    end: Instant,
) -> Result<(Tally, u64), Error> {
    let mut tally = Tally::default();
    let mut sent = 0;
    while Instant::now() < end {
        let answer = read(client.request(get(&url, GUEST_KEY)?).await?).await?;
        sent += 1;
        tally.record(start.elapsed(), &answer);
    }
    Ok((tally, sent))
}

/// Developer requests at a steady rate until `end`.
async fn developer_steady(
    client: HttpClient,
    url: String,
    start: Instant,
    end: Instant,
) -> Result<Tally, Error> {
    let mut tally = Tally::default();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / DEVELOPER_PER_SECOND);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if Instant::now() >= end {
            break;
        }
        let answer = read(client.request(get(&url, DEVELOPER_KEY)?).await?).await?;
        tally.record(start.elapsed(), &answer);
    }
    Ok(tally)
}

// ---------------------------------------------------------------------------------------
// Phase 2: memory.

/// This process's resident set, in bytes.
fn resident_bytes() -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .ok_or("no VmRSS in /proc/self/status")?;
    let kib: u64 = line
        .trim()
        .strip_suffix("kB")
        .ok_or("VmRSS is not in kB")?
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

fn memory(checks: &mut Checks) -> Result<(), Error> {
    println!("== phase 2: resident memory of {MEMORY_KEYS} keys");
    // A day-long refill: no bucket becomes idle (and leaves) while the keys are charged.
    let limits = RateLimitConfig::default()
        .quota("guest", 1_000, 86_400, 10)
        .default_quota("guest")
        .max_keys(MEMORY_KEYS)
        .build()?;
    let quota = limits.quota("guest").ok_or("no guest quota")?;
    let store: &dyn RateLimitStore = limits.store().as_ref();
    let mut key = String::with_capacity(32);
    let before = resident_bytes()?;
    let started = std::time::Instant::now();
    let mut refused = 0_u64;
    for i in 0..MEMORY_KEYS {
        key.clear();
        write!(key, "p:user-{i}")?;
        if !matches!(
            store.charge(quota, &key, 1),
            StoreAnswer::Ready(Ok(Verdict::Allowed { .. }))
        ) {
            refused += 1;
        }
    }
    let took = started.elapsed();
    let after = resident_bytes()?;
    let stats = limits.stats();
    let grown = after.saturating_sub(before);
    let (grown_mb, per_key) = (
        approx_u64(grown) / 1e6,
        approx_u64(grown) / approx(stats.keys.max(1)),
    );
    println!(
        "  VmRSS before {:.1} MB, after {:.1} MB: +{grown_mb:.1} MB ({:.1} MiB) for {} keys \
         tracked = {per_key:.0} bytes per key",
        approx_u64(before) / 1e6,
        approx_u64(after) / 1e6,
        approx_u64(grown) / 1_048_576.0,
        stats.keys,
    );
    println!(
        "  {MEMORY_KEYS} charges in {:.2} s ({:.0} ns each, inserts); stats: {stats:?}",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e9 / approx(MEMORY_KEYS),
    );
    checks.expect(refused == 0, format!("no first charge refused ({refused})"));
    checks.expect(
        stats.keys <= MEMORY_KEYS,
        format!("keys tracked {} <= max_keys {MEMORY_KEYS}", stats.keys),
    );
    checks.expect(
        stats.evicted_idle == 0,
        format!("no bucket left as idle ({})", stats.evicted_idle),
    );
    checks.expect(
        per_key < 100.0,
        format!("{per_key:.0} bytes per key (the documentation says about 65)"),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Phase 3: shedding.

/// How one request of the wave ended.
#[derive(Debug)]
enum Ending {
    Answered(StatusCode, Duration, Option<String>),
    Failed(String),
    TimedOut,
}

async fn shedding(checks: &mut Checks) -> Result<(), Error> {
    println!(
        "== phase 3: shedding: {SHED_REQUESTS} requests at once, max_concurrent {MAX_CONCURRENT}, source {} s",
        SLOW_SOURCE.as_secs()
    );
    let source = source_fn(|_id: ContextId, _request: SourceRequest| async {
        tokio::time::sleep(SLOW_SOURCE).await;
        Ok(ContextEntry::text("note", "text", "slow"))
    });
    let overload = OverloadLayer::builder()
        .max_concurrent(MAX_CONCURRENT)
        .build()?;
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .layer(overload)
        .service(McpService::new(source));
    let server = Server::start(TcpListener::bind("127.0.0.1:0").await?, service)?;
    let client = client();
    let url = server.url("/context/slow/a");
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(SHED_REQUESTS));
    let wave: Vec<_> = (0..SHED_REQUESTS)
        .map(|_| {
            let (client, url, gate) = (client.clone(), url.clone(), gate.clone());
            tokio::spawn(async move {
                let Ok(request) = Request::get(url).body(Full::default()) else {
                    return Ending::Failed("request".to_owned());
                };
                gate.wait().await;
                let sent = Instant::now();
                match tokio::time::timeout(REQUEST_TIMEOUT, async {
                    let response = client.request(request).await?;
                    read(response).await
                })
                .await
                {
                    Ok(Ok(answer)) => {
                        let retry_after = answer
                            .headers
                            .get(header::RETRY_AFTER)
                            .and_then(|value| value.to_str().ok())
                            .map(str::to_owned);
                        Ending::Answered(answer.status, sent.elapsed(), retry_after)
                    }
                    Ok(Err(err)) => Ending::Failed(err.to_string()),
                    Err(_) => Ending::TimedOut,
                }
            })
        })
        .collect();
    let mut ok = Vec::new();
    let mut shed = Vec::new();
    let (mut other, mut failed, mut timed_out, mut retry_after_1) = (Vec::new(), 0, 0, 0);
    for ending in futures_util::future::join_all(wave).await {
        match ending? {
            Ending::Answered(StatusCode::OK, took, _) => ok.push(took),
            Ending::Answered(StatusCode::SERVICE_UNAVAILABLE, took, retry_after) => {
                retry_after_1 += usize::from(retry_after.as_deref() == Some("1"));
                shed.push(took);
            }
            Ending::Answered(status, _, _) => other.push(status),
            Ending::Failed(err) => {
                println!("  failed: {err}");
                failed += 1;
            }
            Ending::TimedOut => timed_out += 1,
        }
    }
    ok.sort();
    shed.sort();
    println!(
        "  200: {}  503: {}  other: {other:?}  failed: {failed}  timed out: {timed_out}",
        ok.len(),
        shed.len()
    );
    println!("  503 latency: {}", distribution(&shed));
    println!("  200 latency: {}", distribution(&ok));
    // The slots are free again once the admitted requests are done.
    let after = read(
        client
            .request(Request::get(&url).body(Full::default())?)
            .await?,
    )
    .await?;
    server.stop().await?;
    checks.expect(
        failed == 0 && timed_out == 0 && ok.len() + shed.len() == SHED_REQUESTS,
        format!("all {SHED_REQUESTS} requests answered 200 or 503, none hung"),
    );
    checks.expect(
        ok.len() == MAX_CONCURRENT,
        format!("{} admitted (max_concurrent {MAX_CONCURRENT})", ok.len()),
    );
    checks.expect(
        shed.last()
            .is_some_and(|max| *max < Duration::from_millis(500)),
        "every 503 came at once (well before the 2 s source)",
    );
    checks.expect(
        retry_after_1 == shed.len(),
        format!(
            "every 503 had Retry-After: 1 ({retry_after_1} of {})",
            shed.len()
        ),
    );
    checks.expect(
        after.status == StatusCode::OK,
        format!("a request after the wave got {}", after.status),
    );
    Ok(())
}

/// `min / median / p99 / max` of sorted durations, in milliseconds (nearest rank).
fn distribution(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "none".to_owned();
    }
    let at = |per_mille: usize| {
        let index = ((sorted.len() - 1) * per_mille + 500) / 1000;
        sorted[index].as_secs_f64() * 1e3
    };
    format!(
        "min {:.2} ms, median {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
        at(0),
        at(500),
        at(990),
        at(1000),
        sorted.len()
    )
}
