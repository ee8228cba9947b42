//! Who may talk to the endpoint from a browser: the `Origin` and `Host` allow-lists (the
//! DNS-rebinding defence of the MCP transport).

use std::sync::Arc;

/// Which `Origin` header values the endpoint accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// `http(s)://localhost`, `127.0.0.1` and `[::1]`, on any port (the default).
    Loopback,
    /// Exactly these origins (scheme, host and optional port, compared case-insensitively).
    List(Arc<[String]>),
    /// Any origin (only for servers that no browser can reach).
    Any,
}

impl OriginPolicy {
    /// Whether a request carrying this `Origin` header is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            Self::Loopback => is_loopback_origin(origin),
        }
    }
}

/// Which `Host` header values (HTTP/2 `:authority`) the endpoint accepts: the DNS-rebinding
/// defence for servers on loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostPolicy {
    /// `localhost`, `127.0.0.1` and `[::1]`; on `port` when given (the default: any port).
    Loopback {
        /// The port the server is bound to, when known.
        port: Option<u16>,
    },
    /// Exactly these hosts (`name` or `name:port`, compared case-insensitively).
    List(Arc<[String]>),
    /// Any host (for servers behind a proxy that checks `Host` itself).
    Any,
}

impl HostPolicy {
    /// Whether a request carrying this `Host` is allowed. A request without one (HTTP/1.0,
    /// in-process calls) is not a browser and is allowed.
    pub fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|h| h.eq_ignore_ascii_case(host)),
            Self::Loopback { port } => {
                let (name, host_port) = split_host_port(host);
                let port_ok = match (port, host_port) {
                    (_, None) => true,
                    (None, Some(p)) => p.parse::<u16>().is_ok(),
                    (Some(expected), Some(p)) => p.parse::<u16>().ok() == Some(*expected),
                };
                port_ok && is_loopback_name(name)
            }
        }
    }
}

/// `host[:port]` or `[v6][:port]` split into the host (brackets removed) and the port text.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(bracketed) = authority.strip_prefix('[') {
        return match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, rest)) => (host, Some(rest.strip_prefix(':').unwrap_or("x"))),
            None => ("", None),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

/// `http(s)://` + a loopback host + an optional numeric port, nothing else.
fn is_loopback_origin(origin: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some(parts) => parts,
            None => return false,
        },
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && matches!(
            host.to_ascii_lowercase().as_str(),
            "localhost" | "127.0.0.1" | "::1"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins() {
        let policy = OriginPolicy::Loopback;
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:3000",
            "HTTP://LOCALHOST",
        ] {
            assert!(policy.allows(ok), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "null",
            "file://localhost",
            "http://[::2]:3000",
            "",
        ] {
            assert!(!policy.allows(bad), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        let any_port = HostPolicy::Loopback { port: None };
        for ok in [
            "localhost",
            "localhost:3000",
            "127.0.0.1:1",
            "[::1]:3000",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(any_port.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "evil.example.com:3000",
            "localhost:x",
            "127.0.0.2",
            "[::1]x",
            "",
            "localhost.evil",
        ] {
            assert!(!any_port.allows(bad), "{bad}");
        }
        let bound = HostPolicy::Loopback { port: Some(3000) };
        assert!(bound.allows("localhost:3000"));
        assert!(bound.allows("127.0.0.1"));
        assert!(!bound.allows("localhost:3001"));
    }
}
