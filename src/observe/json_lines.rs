//! [`JsonLines`]: a JSON-lines log format for `tracing-subscriber`, made for the access log's
//! rate: one object a line, the request span's fields carried without re-parsing them.
//!
//! `tracing-subscriber`'s own JSON format keeps each span's fields as a JSON text and parses it
//! back for every event that shows the span, through `serde_json` values; at one access line
//! per request that formatting was the largest cost of observability (measured with
//! `benches/observe_load.rs`). This one writes straight into the line buffer: the span's
//! fields are kept as a ready JSON fragment, copied as they are.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// One JSON object a line: `timestamp` (RFC 3339, UTC), `level`, `target`, `fields` (the
/// event's, `message` included), and `span`: the name of the innermost span and the fields of
/// every span the event is in, outermost first (the `request` span's `request_id` among them).
///
/// Use it as both the field format and the event format (in that order), so that span fields are stored in
/// the form it copies:
///
/// ```
/// use mcp_bastion::observe::JsonLines;
///
/// let subscriber = tracing_subscriber::fmt()
///     .fmt_fields(JsonLines)
///     .event_format(JsonLines)
///     .with_writer(std::io::sink)
///     .finish();
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("request", request_id = "r-1");
///     let _entered = span.enter();
///     tracing::info!(status = 200, "request");
/// });
/// ```
///
/// A line looks like this:
///
/// ```text
/// {"timestamp":"2026-11-28T03:30:01.888502Z","level":"INFO","target":"mcp_bastion::access","fields":{"message":"request","status":200},"span":{"name":"request","request_id":"r-1"}}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<'writer> FormatFields<'writer> for JsonLines {
    /// A span's fields as a fragment: `"a":1,"b":"x"` (no braces).
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        with_scratch(|fragment| {
            fields.record(&mut JsonFields {
                out: fragment,
                first: true,
            });
            writer.write_str(fragment)
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        fields.record(&mut JsonFields {
            out: &mut current.fields,
            first,
        });
        Ok(())
    }
}

impl<S> FormatEvent<S, JsonLines> for JsonLines
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonLines>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // The line is built in a plain String and handed over in one call: the writer's
        // dynamic dispatch per piece cost more than the copy.
        with_scratch(|line| {
            let metadata = event.metadata();
            write!(
                line,
                "{{\"timestamp\":\"{}\",\"level\":\"{}\",\"target\":",
                jiff::Timestamp::now(),
                metadata.level()
            )?;
            push_string(line, metadata.target());
            line.push_str(",\"fields\":{");
            event.record(&mut JsonFields {
                out: line,
                first: true,
            });
            line.push('}');
            if let Some(leaf) = ctx.parent_span() {
                line.push_str(",\"span\":{\"name\":");
                push_string(line, leaf.name());
                for span in leaf.scope().from_root() {
                    let extensions = span.extensions();
                    if let Some(fields) = extensions.get::<FormattedFields<JsonLines>>()
                        && !fields.fields.is_empty()
                    {
                        line.push(',');
                        line.push_str(&fields.fields);
                    }
                }
                line.push('}');
            }
            line.push_str("}\n");
            writer.write_str(line)
        })
    }
}

/// Runs `build` with this thread's scratch buffer, emptied. A nested call (a value's
/// `Debug` that logs) gets a buffer of its own.
fn with_scratch<T>(build: impl FnOnce(&mut String) -> T) -> T {
    thread_local! {
        static SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
    }
    let mut buffer = SCRATCH.with(std::cell::Cell::take);
    buffer.clear();
    let result = build(&mut buffer);
    // A huge line does not keep its memory on this thread.
    if buffer.capacity() <= 64 * 1024 {
        SCRATCH.with(|scratch| scratch.set(buffer));
    }
    result
}

/// Writes fields as `"name":value` pairs, comma-separated.
struct JsonFields<'a> {
    out: &'a mut String,
    first: bool,
}

impl JsonFields<'_> {
    /// Writes `,"name":` (field names are identifiers: quoted as they are).
    fn key(&mut self, field: &Field) -> &mut String {
        if !std::mem::replace(&mut self.first, false) {
            self.out.push(',');
        }
        push_string(self.out, field.name());
        self.out.push(':');
        self.out
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        push_string(self.key(field), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let out = self.key(field);
        out.push('"');
        let _ = write!(Escaping(out), "{value:?}");
        out.push('"');
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let out = self.key(field);
        out.push('"');
        let _ = write!(Escaping(out), "{value}");
        out.push('"');
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let _ = write!(self.key(field), "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let _ = write!(self.key(field), "{value}");
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let _ = write!(self.key(field), "{value}");
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let _ = write!(self.key(field), "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field)
            .push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let out = self.key(field);
        // JSON has no NaN or infinities.
        if value.is_finite() {
            let _ = write!(out, "{value}");
        } else {
            out.push_str("null");
        }
    }
}

/// A JSON string: quoted, with `"`, `\` and control characters escaped.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    let _ = Escaping(out).write_str(text);
    out.push('"');
}

/// The bytes that cannot stand as they are inside a JSON string.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0x7f] = true;
    table
};

/// Escapes what passes through it for the inside of a JSON string.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest
            .bytes()
            .position(|byte| NEEDS_ESCAPE[usize::from(byte)])
        {
            self.0.push_str(&rest[..at]);
            let byte = rest.as_bytes()[at];
            match byte {
                b'"' => self.0.push_str("\\\""),
                b'\\' => self.0.push_str("\\\\"),
                b'\n' => self.0.push_str("\\n"),
                b'\r' => self.0.push_str("\\r"),
                b'\t' => self.0.push_str("\\t"),
                _ => write!(self.0, "\\u{byte:04x}")?,
            }
            rest = &rest[at + 1..];
        }
        self.0.push_str(rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The lines a subscriber with this format wrote while `emit` ran.
    fn lines(emit: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonLines)
            .event_format(JsonLines)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || SharedBuffer(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
            .collect()
    }

    struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_field_type_is_valid_json_and_hostile_text_is_escaped() {
        let hostile = "a\"b\\c\nd\re\tf\u{0}g\u{1b}[31mh\u{7f}i\u{2028}j";
        let lines = lines(|| {
            tracing::info!(
                text = hostile,
                debug = ?hostile,
                signed = -3_i64,
                unsigned = 7_u64,
                wide = u128::MAX,
                yes = true,
                ratio = 0.25,
                nan = f64::NAN,
                error = &std::io::Error::other("bad \"thing\"") as &(dyn std::error::Error + 'static),
                "hello {}", "world"
            );
        });
        let fields = &lines[0]["fields"];
        assert_eq!(fields["text"], hostile);
        assert_eq!(fields["debug"], format!("{hostile:?}"));
        assert_eq!(fields["signed"], -3);
        assert_eq!(fields["unsigned"], 7);
        // A number JSON can hold (serde_json reads it back as a float).
        #[allow(clippy::cast_precision_loss)]
        let wide = u128::MAX as f64;
        assert!((fields["wide"].as_f64().unwrap() - wide).abs() < 1e30);
        assert_eq!(fields["yes"], true);
        assert_eq!(fields["ratio"], 0.25);
        assert!(fields["nan"].is_null());
        assert_eq!(fields["error"], "bad \"thing\"");
        assert_eq!(fields["message"], "hello world");
        assert_eq!(lines[0]["level"], "INFO");
        assert!(lines[0].get("span").is_none());
        let timestamp: jiff::Timestamp = lines[0]["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(timestamp.as_second() > 1_700_000_000);
    }

    #[test]
    fn the_span_carries_every_enclosing_spans_fields_recorded_ones_too() {
        let lines = lines(|| {
            let request =
                tracing::info_span!("request", request_id = "r-1", late = tracing::field::Empty);
            let _request = request.enter();
            request.record("late", 5);
            let source = tracing::debug_span!("source", operation = "get");
            let _source = source.enter();
            tracing::warn!(what = "slow", "inside");
        });
        let span = &lines[0]["span"];
        assert_eq!(span["name"], "source");
        assert_eq!(span["request_id"], "r-1");
        assert_eq!(span["late"], 5);
        assert_eq!(span["operation"], "get");
        assert_eq!(lines[0]["fields"]["what"], "slow");
    }

    proptest::proptest! {
        /// Whatever text a caller chooses, each event is one line of valid JSON that gives
        /// the text back as it was.
        #[test]
        fn any_text_round_trips_on_one_line(text in ".*", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let quoted = String::from_utf8_lossy(&bytes).into_owned();
            let lines = lines(|| {
                let span = tracing::info_span!("request", request_id = text.as_str());
                let _entered = span.enter();
                tracing::info!(text = text.as_str(), quoted = ?quoted, "{text}");
            });
            proptest::prop_assert_eq!(lines.len(), 1);
            proptest::prop_assert_eq!(lines[0]["fields"]["text"].as_str(), Some(text.as_str()));
            proptest::prop_assert_eq!(lines[0]["fields"]["message"].as_str(), Some(text.as_str()));
            let expected = format!("{quoted:?}");
            proptest::prop_assert_eq!(lines[0]["fields"]["quoted"].as_str(), Some(expected.as_str()));
            proptest::prop_assert_eq!(lines[0]["span"]["request_id"].as_str(), Some(text.as_str()));
        }
    }

    #[test]
    fn an_explicit_parent_is_the_span_shown() {
        let lines = lines(|| {
            let request = tracing::info_span!("request", request_id = "r-2");
            tracing::info!(parent: &request, status = 200, "request");
        });
        assert_eq!(lines[0]["span"]["request_id"], "r-2");
    }
}
