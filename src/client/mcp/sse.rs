//! Reading a finished `text/event-stream` body: the `data` of each event (WHATWG HTML
//! "server-sent events" parsing, reduced to what a JSON-RPC answer needs).

/// The data of each event in `body`, in order: `data:` lines joined by `\n`, an event ended
/// by a blank line (or the end of the body); comments, `event:`, `id:` and `retry:` skipped.
pub(crate) fn data(body: &[u8]) -> impl Iterator<Item = String> + '_ {
    let text = String::from_utf8_lossy(body);
    let mut events = Vec::new();
    let mut current: Option<String> = None;
    // Lines end with CRLF, LF or CR.
    for line in text.split("\r\n").flat_map(|l| l.split(['\n', '\r'])) {
        if line.is_empty() {
            events.extend(current.take());
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut current {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => current = Some(value.to_owned()),
            }
        }
    }
    events.extend(current);
    events.into_iter()
}

#[cfg(test)]
mod tests {
    use super::data;

    #[test]
    fn events_are_split_joined_and_stripped() {
        let body = b": comment\r\nevent: message\r\nid: 1\r\ndata: {\"a\":\r\ndata:1}\r\n\r\ndata: two\n\ndata:three";
        let events: Vec<String> = data(body).collect();
        assert_eq!(events, ["{\"a\":\n1}", "two", "three"]);
    }

    #[test]
    fn garbage_gives_no_panic_and_no_event() {
        assert_eq!(data(b"\xff\xfe\r\r\n:::").count(), 0);
        assert_eq!(data(b"").count(), 0);
    }
}
