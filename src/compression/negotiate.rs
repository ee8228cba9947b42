//! The header rules of compression, as plain functions: which coding a client accepts
//! (`Accept-Encoding`), which coding a request body carries (`Content-Encoding`), which
//! responses are worth compressing, `Vary` merging and ETag weakening.

use http::{HeaderMap, HeaderValue, header};

use super::Encodings;

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
    const PREFERENCE: [Self; 3] = [Self::Zstd, Self::Brotli, Self::Gzip];

    fn parse(token: &[u8]) -> Option<Self> {
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

/// At most this many `Accept-Encoding` items are read; real clients send fewer than ten.
const MAX_ITEMS: usize = 32;

/// The coding to answer with, from every `Accept-Encoding` field of a request: the enabled
/// coding with the highest quality above zero (ties go to [`Coding::PREFERENCE`]), or `None`
/// for identity. Identity is also the answer when nothing is acceptable (`*;q=0`,
/// `identity;q=0`) or the field is garbage: RFC 9110 §12.5.3 allows an unencoded response
/// there, and it is always understood. Items that cannot be read are skipped.
pub(crate) fn choose(headers: &HeaderMap, enabled: Encodings) -> Option<Coding> {
    // Quality per coding in thousandths: explicit, else the `*` item's, else unacceptable.
    let mut explicit: [Option<u16>; 3] = [None; 3];
    let mut star: Option<u16> = None;
    let items = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .take(MAX_ITEMS);
    for item in items {
        let mut parts = item.split(|b| *b == b';');
        let token = parts.next().unwrap_or_default().trim_ascii();
        let mut quality = Some(1000);
        for param in parts {
            let param = param.trim_ascii();
            if let Some(value) = param
                .strip_prefix(b"q=")
                .or_else(|| param.strip_prefix(b"Q="))
            {
                quality = parse_quality(value);
            }
        }
        let Some(quality) = quality else { continue };
        if token == b"*" {
            star = Some(quality);
        } else if let Some(coding) = Coding::parse(token) {
            let slot = &mut explicit[coding as usize];
            // A coding named twice keeps its lowest quality: a client saying no once means no.
            *slot = Some(slot.map_or(quality, |q| q.min(quality)));
        }
    }
    let mut best: Option<(Coding, u16)> = None;
    for coding in Coding::PREFERENCE {
        if !enabled.allows(coding) {
            continue;
        }
        let quality = explicit[coding as usize].or(star).unwrap_or(0);
        if quality > 0 && best.is_none_or(|(_, q)| quality > q) {
            best = Some((coding, quality));
        }
    }
    best.map(|(coding, _)| coding)
}

/// An RFC 9110 §12.4.2 qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_quality(value: &[u8]) -> Option<u16> {
    let (int, frac) = match value.iter().position(|b| *b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for i in 0..3 {
        let digit = frac.get(i).map_or(0, |d| u16::from(d - b'0'));
        thousandths = thousandths * 10 + digit;
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// What a request body's `Content-Encoding` says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RequestCoding {
    /// No field, or `identity`.
    Identity,
    /// One coding we decode.
    Coded(Coding),
    /// Anything else: an unknown or disabled coding, several codings, several fields.
    Unsupported,
}

/// Reads the `Content-Encoding` of a request.
pub(crate) fn request_coding(headers: &HeaderMap, enabled: Encodings) -> RequestCoding {
    let mut values = headers.get_all(header::CONTENT_ENCODING).iter();
    let Some(value) = values.next() else {
        return RequestCoding::Identity;
    };
    if values.next().is_some() {
        return RequestCoding::Unsupported;
    }
    let token = value.as_bytes().trim_ascii();
    if token.eq_ignore_ascii_case(b"identity") {
        return RequestCoding::Identity;
    }
    match Coding::parse(token) {
        Some(coding) if enabled.allows(coding) => RequestCoding::Coded(coding),
        _ => RequestCoding::Unsupported,
    }
}

/// The `Accept-Encoding` value a 415 names: the codings a request body may use.
pub(crate) fn accepted_codings(enabled: Encodings) -> HeaderValue {
    let names: Vec<&str> = [Coding::Gzip, Coding::Brotli, Coding::Zstd]
        .into_iter()
        .filter(|coding| enabled.allows(*coding))
        .map(Coding::token)
        .chain(std::iter::once("identity"))
        .collect();
    HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static("identity"))
}

/// Whether a response's content type is worth compressing: JSON (`application/json`,
/// `application/*+json`) and text, but never `text/event-stream` (it must stream) nor gRPC
/// (it has its own per-message compression).
pub(crate) fn compressible_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
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

/// Whether `If-None-Match` (from the request) names the weak form of `etag` and not `etag`
/// itself: the client stored a compressed response's tag, so a 304 should repeat that form.
pub(crate) fn client_holds_weak(if_none_match: &[u8], etag: &[u8]) -> bool {
    let mut weak = false;
    for candidate in if_none_match.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
        if candidate == etag {
            return false;
        }
        weak |= candidate.strip_prefix(b"W/") == Some(etag);
    }
    weak
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn negotiation_takes_the_best_enabled_coding() {
        let all = Encodings::ALL;
        let pick = |values: &[&'static str]| choose(&accept(values), all);
        assert_eq!(pick(&[]), None);
        assert_eq!(pick(&["gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["GZip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["x-gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br"]), Some(Coding::Brotli));
        assert_eq!(pick(&["gzip, deflate, br, zstd"]), Some(Coding::Zstd));
        assert_eq!(pick(&["gzip;q=1.0, br;q=0.5"]), Some(Coding::Gzip));
        assert_eq!(pick(&["gzip;q=0.2", "br;q=0.3"]), Some(Coding::Brotli));
        assert_eq!(pick(&["*"]), Some(Coding::Zstd));
        assert_eq!(pick(&["*;q=0.5, zstd;q=0, br;q=0"]), Some(Coding::Gzip));
        // A coding named twice keeps its lowest quality.
        assert_eq!(pick(&["br, br;q=0"]), None);
        let only_gzip = Encodings::ALL.without(Coding::Zstd).without(Coding::Brotli);
        assert_eq!(
            choose(&accept(&["zstd, br, gzip;q=0.1"]), only_gzip),
            Some(Coding::Gzip)
        );
        assert_eq!(choose(&accept(&["zstd, br"]), only_gzip), None);
    }

    #[test]
    fn nothing_acceptable_or_garbage_means_identity() {
        let pick = |values: &[&'static str]| choose(&accept(values), Encodings::ALL);
        assert_eq!(pick(&["*;q=0"]), None);
        assert_eq!(pick(&["identity;q=0"]), None);
        assert_eq!(pick(&["identity;q=0, *;q=0"]), None);
        assert_eq!(pick(&["gzip;q=0"]), None);
        assert_eq!(pick(&["compress, deflate"]), None);
        assert_eq!(pick(&[";;;,,,=q"]), None);
        assert_eq!(pick(&["gzip;q=2"]), None);
        assert_eq!(pick(&["gzip;q=0.0001"]), None);
        assert_eq!(pick(&["gzip;q=-1"]), None);
        assert_eq!(pick(&["gzip;q="]), None);
        assert_eq!(pick(&["gzip;q=1.5"]), None);
        // Only the first items are read.
        let long = format!("{}br", "x, ".repeat(MAX_ITEMS));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(&long).unwrap(),
        );
        assert_eq!(choose(&headers, Encodings::ALL), None);
    }

    #[test]
    fn qualities_parse_as_rfc_9110_says() {
        assert_eq!(parse_quality(b"1"), Some(1000));
        assert_eq!(parse_quality(b"1.000"), Some(1000));
        assert_eq!(parse_quality(b"0.5"), Some(500));
        assert_eq!(parse_quality(b"0.125"), Some(125));
        assert_eq!(parse_quality(b"0"), Some(0));
        assert_eq!(parse_quality(b"1.001"), None);
        assert_eq!(parse_quality(b"0.1234"), None);
        assert_eq!(parse_quality(b"00.1"), None);
        assert_eq!(parse_quality(b"0.a"), None);
    }

    #[test]
    fn request_codings() {
        let read = |values: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::CONTENT_ENCODING, HeaderValue::from_static(value));
            }
            request_coding(&headers, Encodings::ALL)
        };
        assert_eq!(read(&[]), RequestCoding::Identity);
        assert_eq!(read(&["identity"]), RequestCoding::Identity);
        assert_eq!(read(&["GZIP"]), RequestCoding::Coded(Coding::Gzip));
        assert_eq!(read(&["zstd"]), RequestCoding::Coded(Coding::Zstd));
        assert_eq!(read(&["compress"]), RequestCoding::Unsupported);
        assert_eq!(read(&["gzip, gzip"]), RequestCoding::Unsupported);
        assert_eq!(read(&["gzip", "gzip"]), RequestCoding::Unsupported);
        assert_eq!(
            request_coding(&HeaderMap::new(), Encodings::ALL.without(Coding::Gzip)),
            RequestCoding::Identity
        );
        assert_eq!(
            accepted_codings(Encodings::ALL.without(Coding::Brotli)),
            "gzip, zstd, identity"
        );
    }

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
        assert!(client_holds_weak(b"W/\"v1\"", b"\"v1\""));
        assert!(client_holds_weak(b"\"x\", W/\"v1\"", b"\"v1\""));
        assert!(!client_holds_weak(b"W/\"v1\", \"v1\"", b"\"v1\""));
        assert!(!client_holds_weak(b"\"v1\"", b"\"v1\""));
        assert!(!client_holds_weak(b"W/\"v2\"", b"\"v1\""));
    }
}
