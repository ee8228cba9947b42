//! A gRPC service behind the whole stack: API keys, rate limits, and a policy by gRPC method
//! (`grpc = [...]` rules); refusals reach gRPC clients as trailers-only responses with the
//! status they expect (`UNAUTHENTICATED`, `PERMISSION_DENIED`, `RESOURCE_EXHAUSTED`).
//! The service is hand-written (`examples/support/text_grpc.rs`: UTF-8 text messages), and
//! the example is its own client:
//!
//! ```text
//! cargo run --example tonic -- serve --addr 127.0.0.1:3002
//! cargo run --example tonic -- call --addr 127.0.0.1:3002 Get alpha user-dev-token     # OK: context alpha
//! cargo run --example tonic -- call --addr 127.0.0.1:3002 Get alpha                    # Unauthenticated
//! cargo run --example tonic -- call --addr 127.0.0.1:3002 Delete alpha user-dev-token  # PermissionDenied
//! ```

#[path = "support/seed_keys.rs"]
mod seed_keys;
#[path = "support/text_grpc.rs"]
mod text_grpc;

use http::uri::PathAndQuery;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::rate_limit::RateLimitConfig;
use mcp_bastion::stack::Stack;
use text_grpc::{Contexts, TextCodec};

/// Developers and guests may call `Get`; nobody may call `Delete`.
const POLICY: &str = r#"
roles = ["developer", "guest"]

[[rules]]
id = "get"
effect = "allow"
roles = ["developer", "guest"]
actions = ["call"]
grpc = ["/bastion.test.Contexts/Get"]
"#;

/// Sixty calls a minute, ten at once, for every caller.
const LIMITS: &str = r#"
default = "caller"

[quotas.caller]
requests = 60
window_seconds = 60
burst = 10
"#;

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

async fn serve(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let keys = seed_keys::seed_keys()?;
    let service = Stack::new(Endpoint::builder().loopback_port(local.port()).build()?)
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY)?))
        .rate_limits(RateLimitConfig::from_toml(LIMITS)?.build()?)
        .service(Contexts)?;
    println!("gRPC service bastion.test.Contexts behind mcp-bastion on http://{local}");
    mcp_bastion::server::serve(listener, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

async fn call(addr: &str, positional: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [method, name, rest @ ..] = positional else {
        return Err("call needs METHOD NAME [TOKEN]".into());
    };
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await?;
    let mut request = tonic::Request::new(name.clone());
    if let Some(token) = rest.first() {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let path = PathAndQuery::try_from(format!("/bastion.test.Contexts/{method}"))?;
    match client.unary(request, path, TextCodec).await {
        Ok(answer) => println!("OK: {}", answer.into_inner()),
        Err(status) => println!("{:?}: {}", status.code(), status.message()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = flag(&args, "--addr", "127.0.0.1:3002");
    let positional: Vec<String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| *a != "--addr" && (*i == 0 || args[i - 1] != "--addr"))
        .map(|(_, a)| a.clone())
        .collect();
    match positional.first().map(String::as_str) {
        Some("call") => call(&addr, &positional[1..]).await,
        Some("serve") | None => serve(&addr).await,
        Some(other) => Err(format!("unknown command {other:?}: serve or call").into()),
    }
}
