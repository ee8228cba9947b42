//! Content codings (feature `compression`): the rules the compression layer and the
//! cache's stored encoded variants share, written once here, below both: the codings, the
//! configuration, which answers are worth compressing, `Vary` merging, ETag weakening, and
//! encoding a whole body.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::io::AsyncReadExt;
use tower_http::CompressionLevel;

/// A content coding we produce or decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Brotli,
    Zstd,
}

impl Coding {
    /// The token as sent in `Content-Encoding` (and understood by tower-http).
    pub(crate) fn token(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }

    /// Server preference when a client rates several codings the same: zstd compresses
    /// fastest at a ratio close to brotli's, brotli is smallest, gzip is understood everywhere.
    pub(crate) const PREFERENCE: [Self; 3] = [Self::Zstd, Self::Brotli, Self::Gzip];

    pub(crate) fn parse(token: &[u8]) -> Option<Self> {
        if token.eq_ignore_ascii_case(b"gzip") || token.eq_ignore_ascii_case(b"x-gzip") {
            Some(Self::Gzip)
        } else if token.eq_ignore_ascii_case(b"br") {
            Some(Self::Brotli)
        } else if token.eq_ignore_ascii_case(b"zstd") {
            Some(Self::Zstd)
        } else {
            None
        }
    }
}

/// How to compress: the smallest body worth it, the level, and the codings offered.
///
/// Defaults: 1024 bytes, [`CompressionLevel::Default`] (gzip 6, brotli 4, zstd 3), gzip,
/// brotli and zstd all on.
///
/// ```
/// use mcp_bastion::compression::{CompressionConfig, CompressionLevel};
///
/// let config = CompressionConfig::default()
///     .min_size(4096)
///     .level(CompressionLevel::Fastest)
///     .brotli(false);
/// assert_eq!(config.min_size_bytes(), 4096);
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct CompressionConfig {
    pub(crate) min_size: u64,
    pub(crate) level: CompressionLevel,
    pub(crate) encodings: Encodings,
}

/// The smallest response body compressed by default: below about a kilobyte the headers and
/// the coding's framing eat most of the gain.
const DEFAULT_MIN_SIZE: u64 = 1024;

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            min_size: DEFAULT_MIN_SIZE,
            level: CompressionLevel::Default,
            encodings: Encodings::ALL,
        }
    }
}

impl CompressionConfig {
    /// Compress only bodies of at least `bytes` (when the size is known).
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.min_size = bytes;
        self
    }

    /// The compression level of every coding.
    pub fn level(mut self, level: CompressionLevel) -> Self {
        self.level = level;
        self
    }

    /// Offer gzip (and decode gzip request bodies).
    pub fn gzip(mut self, on: bool) -> Self {
        self.encodings = self.encodings.with(Coding::Gzip, on);
        self
    }

    /// Offer brotli (`br`).
    pub fn brotli(mut self, on: bool) -> Self {
        self.encodings = self.encodings.with(Coding::Brotli, on);
        self
    }

    /// Offer zstd.
    pub fn zstd(mut self, on: bool) -> Self {
        self.encodings = self.encodings.with(Coding::Zstd, on);
        self
    }

    /// The configured minimum size.
    pub fn min_size_bytes(&self) -> u64 {
        self.min_size
    }
}

/// Which codings are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encodings([bool; 3]);

impl Encodings {
    pub(crate) const ALL: Self = Self([true; 3]);

    pub(crate) fn allows(self, coding: Coding) -> bool {
        self.0[coding as usize]
    }

    fn with(mut self, coding: Coding, on: bool) -> Self {
        self.0[coding as usize] = on;
        self
    }

    #[cfg(test)]
    pub(crate) fn without(self, coding: Coding) -> Self {
        self.with(coding, false)
    }
}

/// Whether a response's content type is worth compressing: JSON (`application/json`,
/// `application/*+json`) and text, but never `text/event-stream` (it must stream) nor gRPC
/// (it has its own per-message compression).
pub(crate) fn compressible_type(headers: &HeaderMap) -> bool {
    compressible_content_type(headers.get(header::CONTENT_TYPE))
}

/// [`compressible_type`] for a `Content-Type` value.
pub(crate) fn compressible_content_type(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if kind.eq_ignore_ascii_case("text") {
        return !subtype.eq_ignore_ascii_case("event-stream");
    }
    let grpc = subtype.len() >= 4
        && subtype.is_char_boundary(4)
        && subtype[..4].eq_ignore_ascii_case("grpc");
    kind.eq_ignore_ascii_case("application")
        && !grpc
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype.is_char_boundary(subtype.len() - 5)
                && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Whether a response is worth compressing: not a 1xx/204/206/304, a compressible content
/// type, and a body of unknown size or at least `min_size` bytes.
pub(crate) fn worth_compressing(
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    size: Option<u64>,
    min_size: u64,
) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED)
        && compressible_content_type(content_type)
        && size.is_none_or(|size| size >= min_size)
}

/// The headers of a response whose body is encoded in `coding` by us: `Content-Encoding`,
/// `Vary` with `Accept-Encoding`, the `ETag` weakened.
pub(crate) fn mark_encoded(headers: &mut HeaderMap, coding: Coding) {
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    encoded(headers);
}

/// What every response we encoded carries besides its `Content-Encoding`: `Vary` with
/// `Accept-Encoding`, and a weak `ETag` (see [`weaken_etag`]).
pub(crate) fn encoded(headers: &mut HeaderMap) {
    add_vary(headers);
    weaken_etag(headers);
}

/// `body` encoded whole in `coding` at `level`, as the compression layer would stream it
/// (brotli's default is quality 4, not the library's 11; zstd keeps an 8 MiB window at
/// most, for decoders that allow no more).
pub(crate) async fn encode(coding: Coding, level: CompressionLevel, body: &[u8]) -> Bytes {
    use async_compression::Level;
    use async_compression::tokio::bufread::{BrotliEncoder, GzipEncoder, ZstdEncoder};
    let quality = match level {
        CompressionLevel::Fastest => Level::Fastest,
        CompressionLevel::Best => Level::Best,
        CompressionLevel::Precise(quality) => Level::Precise(quality),
        _ => Level::Default,
    };
    let mut out = Vec::with_capacity(body.len() / 4);
    // Reading from a slice into a vector cannot fail.
    let _ = match coding {
        Coding::Gzip => {
            GzipEncoder::with_quality(body, quality)
                .read_to_end(&mut out)
                .await
        }
        Coding::Brotli => {
            let quality = match level {
                CompressionLevel::Default => Level::Precise(4),
                _ => quality,
            };
            BrotliEncoder::with_quality(body, quality)
                .read_to_end(&mut out)
                .await
        }
        Coding::Zstd => {
            let wide = match level {
                CompressionLevel::Best => true,
                CompressionLevel::Precise(level) => level >= 17,
                _ => false,
            };
            if wide {
                let params = [async_compression::zstd::CParameter::window_log(23)];
                ZstdEncoder::with_quality_and_params(body, quality, &params)
                    .read_to_end(&mut out)
                    .await
            } else {
                ZstdEncoder::with_quality(body, quality)
                    .read_to_end(&mut out)
                    .await
            }
        }
    };
    Bytes::from(out)
}

/// Adds `Accept-Encoding` to the response's `Vary`, merging every `Vary` field into one and
/// listing each name once. `Vary: *` already covers it.
pub(crate) fn add_vary(headers: &mut HeaderMap) {
    // The common cases first: no Vary yet, or one field (one allocation at most).
    let mut fields = headers.get_all(header::VARY).iter();
    match (fields.next(), fields.next()) {
        (None, _) => {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            return;
        }
        (Some(only), None) => {
            let listed = only.as_bytes().split(|b| *b == b',').any(|name| {
                let name = name.trim_ascii();
                name == b"*" || name.eq_ignore_ascii_case(b"accept-encoding")
            });
            if listed {
                return;
            }
            let mut merged = Vec::with_capacity(only.len() + 17);
            merged.extend_from_slice(only.as_bytes().trim_ascii_end());
            merged.extend_from_slice(b", accept-encoding");
            if let Ok(merged) = HeaderValue::from_bytes(&merged) {
                headers.insert(header::VARY, merged);
            }
            return;
        }
        (Some(_), Some(_)) => {}
    }
    let mut names: Vec<String> = Vec::new();
    for value in headers.get_all(header::VARY) {
        let Ok(value) = value.to_str() else { continue };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                headers.insert(header::VARY, HeaderValue::from_static("*"));
                return;
            }
            if !names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
                names.push(name.to_owned());
            }
        }
    }
    if names.is_empty() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        return;
    }
    if !names
        .iter()
        .any(|n| n.eq_ignore_ascii_case("accept-encoding"))
    {
        names.push("accept-encoding".to_owned());
    }
    if let Ok(merged) = HeaderValue::from_str(&names.join(", ")) {
        headers.insert(header::VARY, merged);
    }
}

/// Makes a strong `ETag` weak (`"v"` → `W/"v"`): RFC 9110 §8.8.3 lets a strong tag name
/// one sequence of bytes only, and a compressed body is another sequence than the identity
/// one. If-None-Match compares weakly, so revalidation with the weak tag keeps working.
pub(crate) fn weaken_etag(headers: &mut HeaderMap) {
    let Some(etag) = headers.get(header::ETAG) else {
        return;
    };
    if etag.as_bytes().starts_with(b"W/") {
        return;
    }
    let mut weak = Vec::with_capacity(etag.len() + 2);
    weak.extend_from_slice(b"W/");
    weak.extend_from_slice(etag.as_bytes());
    if let Ok(weak) = HeaderValue::from_bytes(&weak) {
        headers.insert(header::ETAG, weak);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_types() {
        let typed = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            compressible_type(&headers)
        };
        assert!(typed("application/json"));
        assert!(typed("application/json; charset=utf-8"));
        assert!(typed("Application/Problem+JSON"));
        assert!(typed("text/plain"));
        assert!(typed("text/markdown; charset=utf-8"));
        assert!(!typed("text/event-stream"));
        assert!(!typed("application/grpc"));
        assert!(!typed("application/grpc+json"));
        assert!(!typed("application/grpc+proto"));
        assert!(!typed("application/octet-stream"));
        assert!(!typed("image/png"));
        assert!(!typed("json"));
        assert!(!compressible_type(&HeaderMap::new()));
    }

    #[test]
    fn vary_is_merged_once() {
        let mut headers = HeaderMap::new();
        add_vary(&mut headers);
        assert_eq!(headers[header::VARY], "accept-encoding");
        add_vary(&mut headers);
        assert_eq!(headers.get_all(header::VARY).iter().count(), 1);

        let mut headers = HeaderMap::new();
        headers.append(header::VARY, HeaderValue::from_static("authorization"));
        headers.append(
            header::VARY,
            HeaderValue::from_static("Origin, authorization"),
        );
        add_vary(&mut headers);
        let all: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(all, ["authorization, Origin, accept-encoding"]);

        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        add_vary(&mut headers);
        assert_eq!(headers[header::VARY], "Accept-Encoding");

        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("origin, *"));
        add_vary(&mut headers);
        assert_eq!(headers[header::VARY], "origin, *");

        let mut headers = HeaderMap::new();
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        headers.append(header::VARY, HeaderValue::from_static("*"));
        add_vary(&mut headers);
        assert_eq!(headers[header::VARY], "*");

        let mut headers = HeaderMap::new();
        headers.insert(
            header::VARY,
            HeaderValue::from_static("authorization, x-api-key"),
        );
        add_vary(&mut headers);
        assert_eq!(
            headers[header::VARY],
            "authorization, x-api-key, accept-encoding"
        );
    }

    #[test]
    fn etags_weaken_once() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static("\"v1\""));
        weaken_etag(&mut headers);
        assert_eq!(headers[header::ETAG], "W/\"v1\"");
        weaken_etag(&mut headers);
        assert_eq!(headers[header::ETAG], "W/\"v1\"");
    }
}
