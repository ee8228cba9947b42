//! The seed's code lab, as a client of the demo server: a cache (miss, then hit), ETag
//! revalidation (`304`), the guest's `403`, a `429` waited out through `Retry-After`, MCP in
//! whichever protocol generation the server speaks, and the circuit breaker opening while the
//! server is unreachable and closing when it is back.
//!
//! ```text
//! cargo run --example server                  # in one terminal
//! cargo run --example client                  # in another
//! cargo run --example client -- --url http://127.0.0.1:4000 --token user-admin-token
//! MCP_TOKEN=user-dev-token cargo run --example client
//! ```
//! The breaker step needs to make the server unreachable without stopping yours: the client
//! connects through a local TCP relay (`connect_to`; the URL still names the server) that the
//! example stops and starts again.

use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mcp_bastion::client::{CacheOutcome, CircuitBreakerLayer, ClientError, McpClient, RetryLayer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const USAGE: &str = "usage: client [--url URL] [--token TOKEN] [--guest-token TOKEN]
  --url           the server (default http://127.0.0.1:3000)
  --token         a developer's token (default: $MCP_TOKEN, else user-dev-token)
  --guest-token   a guest's token (default user-guest-token)";

struct Args {
    url: String,
    token: String,
    guest_token: String,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        url: "http://127.0.0.1:3000".to_owned(),
        token: std::env::var("MCP_TOKEN").unwrap_or_else(|_| "user-dev-token".to_owned()),
        guest_token: "user-guest-token".to_owned(),
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--token" => args.token = value()?,
            "--guest-token" => args.guest_token = value()?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn served(outcome: Option<CacheOutcome>) -> &'static str {
    match outcome {
        Some(CacheOutcome::Fresh) => "from the client cache, no request sent",
        Some(CacheOutcome::Revalidated) => "revalidated: 304 Not Modified, stored body reused",
        _ => "from the server",
    }
}

/// What did not go as the README shows: the example exits non-zero if anything did not.
#[derive(Default)]
struct Surprises(Vec<String>);

impl Surprises {
    fn expect(&mut self, held: bool, what: &str) {
        if !held {
            println!("   !! expected {what}");
            self.0.push(what.to_owned());
        }
    }
}

fn millis(since: Instant) -> String {
    format!("{:.2} ms", since.elapsed().as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = match args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let client = McpClient::builder(&args.url)
        .bearer_token(&args.token)
        .build()?;
    let mut surprises = Surprises::default();

    println!("1. Cache: miss, then hit (public-docs/getting-started, max-age=300)");
    for attempt in 1..=2 {
        let started = Instant::now();
        let context = match client.get_context("public-docs/getting-started").await {
            Ok(context) => context,
            Err(err) => {
                eprintln!("   {err}\n   is the demo server running? cargo run --example server");
                std::process::exit(1);
            }
        };
        println!(
            "   read {attempt}: {} in {} ({} bytes)",
            served(context.cache),
            millis(started),
            context.envelope.data.content.len()
        );
        if attempt == 2 {
            surprises.expect(
                context.cache == Some(CacheOutcome::Fresh),
                "the second read to come from the cache",
            );
        }
    }

    println!("\n2. Revalidation: the stored copy, confirmed by the server (ETag, 304)");
    for attempt in 1..=2 {
        let started = Instant::now();
        // The second read asks the server whether the stored copy is still current.
        let context = if attempt == 1 {
            client.get_context("project-alpha/dependency-graph").await?
        } else {
            client
                .refresh_context("project-alpha/dependency-graph")
                .await?
        };
        println!(
            "   read {attempt}: {} in {} (ETag {})",
            served(context.cache),
            millis(started),
            context.etag.as_deref().unwrap_or("none")
        );
        if attempt == 2 {
            surprises.expect(
                context.cache == Some(CacheOutcome::Revalidated),
                "a 304 revalidation",
            );
        }
    }

    println!("\n3. MCP");
    let server = client.connect().await?;
    println!("   protocol {} ({:?})", server.protocol_version, server.era);
    for resource in client.list_resources().await? {
        let read = client.read_resource(&resource.uri).await?;
        let size: usize = read
            .contents
            .iter()
            .map(|c| c.text.as_ref().map_or(0, String::len))
            .sum();
        println!("   {}: {size} bytes", resource.uri);
    }

    println!("\n4. The guest may not read project-alpha");
    let impatient_guest = McpClient::builder(&args.url)
        .bearer_token(&args.guest_token)
        .no_cache()
        .no_retry()
        .build()?;
    match impatient_guest
        .get_context("project-alpha/dependency-graph")
        .await
    {
        Err(ClientError::Server(refused)) => {
            println!("   {refused}");
            surprises.expect(refused.status == 403, "403 for the guest");
        }
        other => surprises.expect(false, &format!("403 for the guest, got {other:?}")),
    }

    println!("\n5. Rate limits: the guest reads until refused, then a retrying client waits");
    let mut reads = 0;
    let refusal = loop {
        match impatient_guest
            .get_context("public-docs/getting-started")
            .await
        {
            Ok(_) if reads < 100 => reads += 1,
            Ok(_) => break None,
            Err(ClientError::Server(refused)) => break Some(refused),
            Err(other) => return Err(other.into()),
        }
    };
    match refusal {
        Some(refused) => println!("   after {reads} reads: {refused}"),
        None => surprises.expect(false, &format!("a 429 within {reads} reads")),
    }
    let patient_guest = McpClient::builder(&args.url)
        .bearer_token(&args.guest_token)
        .no_cache()
        .retry(
            RetryLayer::builder()
                .max_attempts(4)
                .max_delay(Duration::from_secs(5))
                .build()?,
        )
        .build()?;
    let started = Instant::now();
    patient_guest
        .get_context("public-docs/getting-started")
        .await?;
    println!(
        "   a retrying client: 200 after {:.2} s (it waited out Retry-After)",
        started.elapsed().as_secs_f64()
    );

    println!("\n6. Circuit breaker");
    breaker(&args, &mut surprises).await?;
    if !surprises.0.is_empty() {
        eprintln!("\nnot as expected: {}", surprises.0.join("; "));
        std::process::exit(1);
    }
    Ok(())
}

/// Reads through a relay the example stops (the server seems down) and starts again.
async fn breaker(args: &Args, surprises: &mut Surprises) -> Result<(), Box<dyn Error>> {
    let uri: http::Uri = args.url.parse()?;
    let authority = uri.authority().ok_or("the URL names no server")?;
    let port = authority
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let target = format!("{}:{port}", authority.host());
    let mut relay = Relay::start("127.0.0.1:0".parse()?, target.clone()).await?;
    let open_for = Duration::from_secs(2);
    let client = McpClient::builder(&args.url)
        .connect_to(relay.addr)
        .bearer_token(&args.token)
        .no_cache()
        .no_retry()
        .circuit_breaker(
            CircuitBreakerLayer::builder()
                .minimum_calls(3)
                .open_for(open_for)
                .build()?,
        )
        .build()?;
    let read = || client.get_context("public-docs/getting-started");
    read().await?;
    println!("   through the relay: 200");
    let addr = relay.addr;
    relay.stop();
    println!("   relay stopped: the server is unreachable");
    let mut failed_fast = false;
    for _ in 0..5 {
        let started = Instant::now();
        match read().await {
            Err(ClientError::CircuitOpen(open)) => {
                failed_fast = true;
                println!(
                    "   failed fast in {}, nothing sent: {open}",
                    millis(started)
                );
            }
            Err(err) => println!("   failed in {}: {err}", millis(started)),
            Ok(_) => println!("   unexpected success"),
        }
    }
    surprises.expect(failed_fast, "the open circuit to fail fast");
    let relay = Relay::start(addr, target).await?;
    println!(
        "   relay started again; waiting {} s for the circuit to half-open",
        open_for.as_secs()
    );
    tokio::time::sleep(open_for).await;
    let started = Instant::now();
    read().await?;
    println!(
        "   probe answered 200 in {}: the circuit is closed",
        millis(started)
    );
    drop(relay);
    Ok(())
}

/// A TCP relay to the server, with its connections, so that stopping it cuts them all.
struct Relay {
    addr: SocketAddr,
    tasks: JoinSet<()>,
}

impl Relay {
    async fn start(addr: SocketAddr, target: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self { addr, tasks })
    }

    /// Stops listening and cuts every relayed connection (dropping the accept task drops
    /// its set of connections).
    fn stop(&mut self) {
        self.tasks.abort_all();
    }
}
