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
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\r', '\n']);
        let ending = &line[content.len()..];
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
            _ => out.push_str(line),
        }
    }
    Some(Bytes::from(out))
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
    }
}
