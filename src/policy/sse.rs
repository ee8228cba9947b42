//! Server-sent events as MCP servers send JSON-RPC answers: each `data:` line one message.

use bytes::Bytes;
use serde_json::Value;

/// Applies `filter` to the JSON of every `data:` line of an event stream.
/// `None` when a non-empty `data:` line is not JSON (e.g. an event split over several lines)
/// or `filter` refuses a message.
pub(crate) fn filter_event_stream(
    bytes: &[u8],
    mut filter: impl FnMut(&mut Value) -> bool,
) -> Option<Bytes> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = String::with_capacity(text.len());
    for (content, ending) in lines(text) {
        match content
            .strip_prefix("data:")
            .map(str::trim_start)
            .map(serde_json::from_str::<Value>)
        {
            Some(Ok(mut message)) => {
                if !filter(&mut message) {
                    return None;
                }
                out.push_str("data: ");
                out.push_str(&serde_json::to_string(&message).ok()?);
                out.push_str(ending);
            }
            Some(Err(_)) if !content["data:".len()..].trim().is_empty() => return None,
            _ => {
                out.push_str(content);
                out.push_str(ending);
            }
        }
    }
    Some(Bytes::from(out))
}

/// The lines of an event stream and their endings: CRLF, LF or a lone CR all end a line
/// (as every client reads them: a parser splitting on LF only would pass CR-separated
/// `data:` lines through unread).
fn lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let ending_len = match rest.as_bytes().get(end..end + 2) {
            Some(b"\r\n") => 2,
            Some(_) => 1,
            None => usize::from(end < rest.len()),
        };
        let (content, after) = rest.split_at(end);
        let (ending, next) = after.split_at(ending_len);
        rest = next;
        Some((content, ending))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_streams_are_filtered_or_refused() {
        let stream =
            b"id: 1\ndata: \n\nevent: message\ndata: {\"id\":1,\"result\":{\"tools\":[1,2]}}\r\n\n";
        let filtered = filter_event_stream(stream, |message| {
            message["result"]["tools"] = json!([1]);
            true
        })
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&filtered).unwrap(),
            "id: 1\ndata: \n\nevent: message\ndata: {\"id\":1,\"result\":{\"tools\":[1]}}\r\n\n"
        );
        // An event whose data spans lines cannot be parsed line by line: refuse it.
        assert!(filter_event_stream(b"data: {\"id\":\ndata: 1}\n\n", |_| true).is_none());
        assert!(filter_event_stream(&[0xff, 0xfe], |_| true).is_none());
        // A message the filter cannot judge refuses the whole stream.
        assert!(filter_event_stream(b"data: {\"id\":1}\n\n", |_| false).is_none());
        // A lone CR ends a line too: the data line after it is filtered, not passed on.
        let lone_cr = b"event: message\rdata:{\"id\":1,\"result\":{\"tools\":[1,2]}}\r\r";
        let filtered = filter_event_stream(lone_cr, |message| {
            message["result"]["tools"] = json!([1]);
            true
        })
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&filtered).unwrap(),
            "event: message\rdata: {\"id\":1,\"result\":{\"tools\":[1]}}\r\r"
        );
        let endings: Vec<_> = lines("a\r\nb\nc\rd").collect();
        assert_eq!(
            endings,
            [("a", "\r\n"), ("b", "\n"), ("c", "\r"), ("d", "")]
        );
    }
}
