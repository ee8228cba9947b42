//! The header rules of compression, as plain functions: which coding a client accepts
//! (`Accept-Encoding`), which coding a request body carries (`Content-Encoding`), which
//! responses are worth compressing, `Vary` merging and ETag weakening.

use http::{HeaderMap, HeaderValue, header};

pub(crate) use crate::coding::{Coding, Encodings, add_vary, compressible_type, weaken_etag};

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
    fn weak_tags_held_by_the_client() {
        assert!(client_holds_weak(b"W/\"v1\"", b"\"v1\""));
        assert!(client_holds_weak(b"\"x\", W/\"v1\"", b"\"v1\""));
        assert!(!client_holds_weak(b"W/\"v1\", \"v1\"", b"\"v1\""));
        assert!(!client_holds_weak(b"\"v1\"", b"\"v1\""));
        assert!(!client_holds_weak(b"W/\"v2\"", b"\"v1\""));
    }
}
