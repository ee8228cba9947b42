//! Where a request comes from: [`ClientAddr`] in the request extensions, set once by
//! [`ClientAddrLayer`] for every layer below (policy `client_ip` conditions, rate limits,
//! logs).
//!
//! The layer takes the peer address from [`serve`](crate::server::serve) /
//! `tls::serve_tls` (which record the connection's peer) or from axum's `ConnectInfo`
//! (feature `axum`). When that peer is a configured trusted proxy, the client is the
//! right-most address of the forwarding header those proxies write (`X-Forwarded-For` by
//! default, or `Forwarded`, RFC 7239) that is not itself a trusted proxy. Only that one header
//! is read: a proxy passes the other one through as the client sent it. Headers from anyone
//! but a trusted proxy are ignored, so a client cannot name its own address. Without a peer address the request has no `ClientAddr`: policies then fail
//! closed on `client_ip` conditions (see [`policy`](crate::policy)).
//!
//! ```
//! use mcp_bastion::client_addr::{ClientAddrLayer, TrustedProxies};
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::mcp::McpService;
//! use tower::ServiceBuilder;
//!
//! let proxies = TrustedProxies::new(["10.0.0.0/8", "::1"])?;
//! let service = ServiceBuilder::new()
//!     .layer(ClientAddrLayer::new().trusting(proxies))
//!     .service(McpService::new(StaticSource::new()));
//! # let _ = service;
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::ConfigError;
use crate::facts::RequestFacts;
pub(crate) use cidr::Cidr;

mod cidr;

/// The address of the client, in the request extensions. The port is 0 when the address
/// came from a proxy header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The proxies whose forwarding header is believed, and which header they write.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    blocks: Arc<[Cidr]>,
    header: ForwardingHeader,
}

/// The header trusted proxies record the client in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardingHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default; what most proxies write).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl TrustedProxies {
    /// Proxies given as addresses or CIDR blocks (`10.0.0.0/8`, `::1`).
    pub fn new<I, S>(blocks: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let blocks = blocks
            .into_iter()
            .map(|block| {
                Cidr::parse(block.as_ref()).map_err(|err| {
                    ConfigError::new(format!("trusted proxy {:?}: {err}", block.as_ref()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            blocks: blocks.into(),
            header: ForwardingHeader::default(),
        })
    }

    /// Reads `header` (default `X-Forwarded-For`) and only that one.
    #[must_use]
    pub fn header(mut self, header: ForwardingHeader) -> Self {
        self.header = header;
        self
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|block| block.contains(ip))
    }

    /// The client behind `peer`: the right-most forwarded hop that is not a trusted proxy.
    /// An unparseable hop ends the walk at the last trusted one (never a client's claim).
    fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_hops(headers, self.header).into_iter().rev() {
            let Some(ip) = hop else { break };
            client = SocketAddr::new(ip, 0);
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// The hops of `header`, first to last across every header line; `None` for a hop that is
/// not an address (`unknown`, obfuscated).
fn forwarded_hops(headers: &HeaderMap, header: ForwardingHeader) -> Vec<Option<IpAddr>> {
    let lines = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    if header == ForwardingHeader::Forwarded {
        return lines("forwarded")
            .into_iter()
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(key, _)| key.eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value.trim_matches('"')))
            })
            .collect();
    }
    lines("x-forwarded-for")
        .into_iter()
        .map(parse_node)
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`, `[2001:db8::1]:80` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

/// Sets [`ClientAddr`] for the layers below. See the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct ClientAddrLayer {
    proxies: TrustedProxies,
}

impl ClientAddrLayer {
    /// A layer that trusts no proxy: the client is the connection's peer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Believes forwarding headers sent by these proxies.
    #[must_use]
    pub fn trusting(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }
}

impl<S> Layer<S> for ClientAddrLayer {
    type Service = ClientAddrService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientAddrService {
            inner,
            proxies: self.proxies.clone(),
        }
    }
}

/// The service built by [`ClientAddrLayer`].
#[derive(Debug, Clone)]
pub struct ClientAddrService<S> {
    inner: S,
    proxies: TrustedProxies,
}

impl<S, B> Service<Request<B>> for ClientAddrService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(peer) = peer_of(&request) {
            let client = self.proxies.client(peer, request.headers());
            RequestFacts::record(request.extensions(), |facts| {
                facts.set_client(client.ip().to_string());
            });
            request.extensions_mut().insert(ClientAddr(client));
        }
        self.inner.call(request)
    }
}

/// The connection's peer: what our server recorded, or axum's `ConnectInfo`.
fn peer_of<B>(request: &Request<B>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    if let Some(ClientAddr(peer)) = extensions.get::<ClientAddr>() {
        return Some(*peer);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(peer)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*peer);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::new(["10.0.0.0/8", "::1"]).unwrap();
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let xff = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.2")]);
        // The right-most untrusted hop: 198.51.100.7 (1.1.1.1 is the client's own claim).
        assert_eq!(proxies.client(proxy, &xff).ip().to_string(), "198.51.100.7");
        // A client that is not a proxy cannot name its address.
        assert_eq!(proxies.client(stranger, &xff), stranger);
        // Only the header the proxies write counts: a client-sent `Forwarded` passed through
        // by an X-Forwarded-For proxy names nobody.
        let both = headers(&[
            ("forwarded", "for=10.0.0.5"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(proxies.client(proxy, &both).ip().to_string(), "203.0.113.9");
        let rfc = proxies.clone().header(ForwardingHeader::Forwarded);
        let forwarded = headers(&[
            (
                "forwarded",
                r#"for=192.0.2.60;proto=http, for="[2001:db8::1]:4711""#,
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(
            rfc.client(proxy, &forwarded).ip().to_string(),
            "2001:db8::1"
        );
        // An obfuscated hop stops the walk: the last trusted proxy is all we know.
        let hidden = headers(&[("forwarded", "for=192.0.2.60, for=_hidden")]);
        assert_eq!(rfc.client(proxy, &hidden), proxy);
        // Several lines are one list.
        let split = headers(&[("x-forwarded-for", "192.0.2.1"), ("x-forwarded-for", "::1")]);
        assert_eq!(proxies.client(proxy, &split).ip().to_string(), "192.0.2.1");
        assert!(TrustedProxies::new(["10.0.0.0/33"]).is_err());
    }
}
