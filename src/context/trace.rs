//! [`TraceContext`]: a validated W3C trace context (`traceparent`, `tracestate`), so a source
//! that calls further services can continue the caller's trace.

use http::HeaderMap;

/// Longest `tracestate` kept (W3C: at least 512 characters must be propagated).
const MAX_TRACESTATE_LEN: usize = 512;
/// Most `tracestate` list members (W3C: 32).
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// A W3C trace context (Trace Context Level 1), validated: a malformed `traceparent` gives
/// none, a malformed `tracestate` is dropped.
///
/// ```
/// use mcp_bastion::context::TraceContext;
///
/// let trace = TraceContext::parse(
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
///     Some("rojo=00f067aa0ba902b7"),
/// )
/// .unwrap();
/// assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(trace.sampled());
/// assert!(TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
    tracestate: Option<String>,
}

impl TraceContext {
    /// Validates a `traceparent` (and its `tracestate`).
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let bytes = traceparent.as_bytes();
        // version-traceid-parentid-flags: 2+1+32+1+16+1+2 = 55 characters; a later version
        // may append fields after a dash.
        if bytes.len() < 55 || (bytes.len() > 55 && bytes[55] != b'-') {
            return None;
        }
        let lower_hex = |s: &[u8]| s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let (version, trace_id, parent_id, flags) =
            (&bytes[0..2], &bytes[3..35], &bytes[36..52], &bytes[53..55]);
        let dashes = bytes[2] == b'-' && bytes[35] == b'-' && bytes[52] == b'-';
        let all_zero = |s: &[u8]| s.iter().all(|b| *b == b'0');
        let valid = dashes
            && [version, trace_id, parent_id, flags]
                .iter()
                .all(|s| lower_hex(s))
            && version != b"ff"
            && (version != b"00" || bytes.len() == 55)
            && !all_zero(trace_id)
            && !all_zero(parent_id);
        if !valid {
            return None;
        }
        let tracestate = tracestate.filter(|state| valid_tracestate(state));
        Some(Self {
            traceparent: traceparent[..55].to_owned(),
            tracestate: tracestate.map(str::to_owned),
        })
    }

    /// The trace context of a request's headers (one `traceparent`; `tracestate` headers
    /// joined as one list, dropped whole when one of them is not text).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut parents = headers.get_all("traceparent").iter();
        let (Some(parent), None) = (parents.next(), parents.next()) else {
            return None;
        };
        let states: Option<Vec<&str>> = headers
            .get_all("tracestate")
            .iter()
            .map(|value| value.to_str().ok())
            .collect();
        let state = states
            .filter(|states| !states.is_empty())
            .map(|states| states.join(","));
        Self::parse(parent.to_str().ok()?, state.as_deref())
    }

    /// The `traceparent` value (the four version-00 fields).
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` value, when one was sent and valid.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id (32 lowercase hex digits).
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// The caller's span id (16 lowercase hex digits).
    pub fn parent_id(&self) -> &str {
        &self.traceparent[36..52]
    }

    /// Whether the caller sampled this trace.
    pub fn sampled(&self) -> bool {
        u8::from_str_radix(&self.traceparent[53..55], 16).is_ok_and(|flags| flags & 1 == 1)
    }
}

/// Whether `state` is a W3C `tracestate` list: 1 to 32 `key=value` members with unique
/// keys (empty members and spaces or tabs around members allowed), at most
/// [`MAX_TRACESTATE_LEN`] characters.
fn valid_tracestate(state: &str) -> bool {
    if state.len() > MAX_TRACESTATE_LEN {
        return false;
    }
    let mut keys: Vec<&str> = Vec::new();
    for member in state.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let Some((key, value)) = member.split_once('=') else {
            return false;
        };
        if keys.len() == MAX_TRACESTATE_MEMBERS
            || !valid_key(key)
            || !valid_value(value)
            || keys.contains(&key)
        {
            return false;
        }
        keys.push(key);
    }
    !keys.is_empty()
}

/// A `tracestate` key: `simple-key` or `tenant-id@system-id` (lower-case letters, digits and
/// `_-*/`; a system id starts with a letter).
fn valid_key(key: &str) -> bool {
    let tail = |s: &[u8]| {
        s.iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/'))
    };
    let part = |s: &str, max: usize, digit_first: bool| {
        let s = s.as_bytes();
        match s.split_first() {
            Some((first, rest)) => {
                s.len() <= max
                    && (first.is_ascii_lowercase() || (digit_first && first.is_ascii_digit()))
                    && tail(rest)
            }
            None => false,
        }
    };
    match key.split_once('@') {
        None => part(key, 256, true),
        Some((tenant, system)) => part(tenant, 241, true) && part(system, 14, false),
    }
}

/// A `tracestate` value: 1 to 256 printable ASCII characters but `,` and `=`, not ending
/// in a space.
fn valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b',' && b != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn only_well_formed_contexts_are_kept() {
        let trace = TraceContext::parse(GOOD, None).unwrap();
        assert_eq!(trace.parent_id(), "00f067aa0ba902b7");
        assert_eq!(trace.traceparent(), GOOD);
        for bad in [
            "",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // v00 with more
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\n",
        ] {
            assert!(TraceContext::parse(bad, None).is_none(), "{bad:?}");
        }
        // A later version may carry more fields: the known four are kept.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra";
        let trace = TraceContext::parse(future, None).unwrap();
        assert_eq!(trace.traceparent().len(), 55);
        assert!(!trace.sampled());
    }

    #[test]
    fn a_bad_tracestate_is_dropped_not_the_context() {
        let long = "a=b,".repeat(200);
        for bad in [long.as_str(), "a=b\u{7f}", "x=\ny"] {
            let trace = TraceContext::parse(GOOD, Some(bad)).unwrap();
            assert_eq!(trace.tracestate(), None, "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", GOOD.parse().unwrap());
        headers.append("tracestate", "a=1".parse().unwrap());
        headers.append("tracestate", "b=2".parse().unwrap());
        let trace = TraceContext::from_headers(&headers).unwrap();
        assert_eq!(trace.tracestate(), Some("a=1,b=2"));
        // One member list among several that is not text spoils the whole list (the rest
        // would be another list than the caller's).
        let mut spoiled = headers.clone();
        spoiled.append(
            "tracestate",
            http::HeaderValue::from_bytes(b"c=\xe9").unwrap(),
        );
        let trace = TraceContext::from_headers(&spoiled).unwrap();
        assert_eq!(trace.tracestate(), None);
        headers.append("traceparent", GOOD.parse().unwrap());
        assert!(
            TraceContext::from_headers(&headers).is_none(),
            "two traceparents: neither"
        );
    }
}
