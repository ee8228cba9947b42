//! The server's connection limits over real sockets: slow and silent clients are cut off,
//! bodies have a deadline, and a full server keeps serving the clients it has.

mod common;

use std::time::Duration;

use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::McpService;
use mcp_bastion::server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceBuilder;

/// Generous bound for "the server closed it": the limits below are 300 ms.
const PATIENCE: Duration = Duration::from_secs(10);

async fn server(config: ServerConfig) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .service(McpService::new(common::seed_source()));
    let task = tokio::spawn(async move {
        mcp_bastion::server::serve_with(listener, service, &config, std::future::pending())
            .await
            .unwrap();
    });
    (addr, task)
}

fn short_limits() -> ServerConfig {
    ServerConfig::builder()
        .header_read_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(300))
        .body_read_timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut seen)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&seen).into_owned()
}

const GET: &[u8] = b"GET /context/public-docs/getting-started HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[tokio::test]
async fn silent_slow_and_idle_clients_are_cut_off() {
    let (addr, _server) = server(short_limits()).await;
    // Connects and says nothing.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    until_closed(&mut silent).await;
    // Starts a request and stalls in the headers.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /context HTTP/1.1\r\n").await.unwrap();
    until_closed(&mut slow).await;
    // Is served, then keeps the connection without asking for more.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(GET).await.unwrap();
    let answer = until_closed(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408() {
    let (addr, _server) = server(short_limits()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"jsonrp",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"jsonrpc\":\"2.0\""), "{answer}");
}

#[tokio::test]
async fn a_full_server_keeps_serving_its_clients_and_admits_the_next_when_one_leaves() {
    let config = ServerConfig::builder().max_connections(2).build().unwrap();
    let (addr, _server) = server(config).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let second = TcpStream::connect(addr).await.unwrap();
    // Both slots are taken: a third client connects (the kernel queues it) but is not served.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(GET).await.unwrap();
    let mut buffer = [0u8; 12];
    let waited =
        tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut buffer)).await;
    assert!(
        waited.is_err(),
        "a third connection was served beyond the cap"
    );
    // The clients it has are still served.
    first.write_all(GET).await.unwrap();
    first.read_exact(&mut buffer).await.unwrap();
    assert_eq!(&buffer, b"HTTP/1.1 200");
    // One leaves: the waiting client is admitted and answered.
    drop(second);
    tokio::time::timeout(PATIENCE, third.read_exact(&mut buffer))
        .await
        .expect("the queued client was admitted")
        .unwrap();
    assert_eq!(&buffer, b"HTTP/1.1 200");
}
