//! A fault-injecting loopback server for the client tests: a scripted HTTP/1.1 server that
//! answers each request with the next reply of its script and records what it was sent.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Clone)]
pub enum Reply {
    /// These bytes, then the connection closes.
    Raw(Vec<u8>),
    /// A chunked body that never ends (a chunk every 10 ms).
    Endless,
    /// These bytes after this wait, then the connection closes.
    Slow(Duration, Vec<u8>),
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub head: String,
    pub body: String,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    /// Answered when the script has run out.
    otherwise: Mutex<Option<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct FaultServer {
    pub addr: SocketAddr,
    script: Arc<Script>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            ..Script::default()
        });
        let shared = Arc::clone(&script);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, Arc::clone(&shared)));
            }
        });
        Self { addr, script, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn otherwise(&self, reply: Reply) {
        *self.script.otherwise.lock().unwrap() = Some(reply);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }
}

async fn answer(mut stream: TcpStream, script: Arc<Script>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut seen = Seen {
        head,
        body: String::new(),
        at: Instant::now(),
    };
    let length: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    seen.body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
    script.seen.lock().unwrap().push(seen);
    let reply = script.replies.lock().unwrap().pop_front();
    let reply = reply.or_else(|| script.otherwise.lock().unwrap().clone());
    match reply {
        Some(Reply::Raw(bytes)) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Some(Reply::Slow(wait, bytes)) => {
            tokio::time::sleep(wait).await;
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Some(Reply::Endless) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = format!("400\r\n{}\r\n", " ".repeat(0x400));
            while stream.write_all(chunk.as_bytes()).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        None => {}
    }
}

/// A complete HTTP/1.1 answer closing its connection.
pub fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut text = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(text, "{name}: {value}\r\n");
    }
    text.push_str("\r\n");
    text.push_str(body);
    Reply::Raw(text.into_bytes())
}

/// `reply` after `wait`.
pub fn slow(wait: Duration, reply: Reply) -> Reply {
    match reply {
        Reply::Raw(bytes) | Reply::Slow(_, bytes) => Reply::Slow(wait, bytes),
        Reply::Endless => Reply::Endless,
    }
}

pub const JSON: (&str, &str) = ("content-type", "application/json");

pub fn envelope(content: &str) -> String {
    json!({"contextId":"docs/a","version":"v1","timestamp":"2026-01-01T00:00:00.000Z",
           "data":{"type":"markdown","format":"text","content":content}})
    .to_string()
}

pub fn ok(content: &str) -> Reply {
    reply(200, &[JSON, ("etag", "\"v1\"")], &envelope(content))
}

pub fn unavailable() -> Reply {
    reply(
        503,
        &[JSON],
        r#"{"code":"UNAVAILABLE","message":"Service temporarily unavailable.","requestId":"r-1"}"#,
    )
}
