//! OpenTelemetry (feature `otel`): the crate's spans join the caller's W3C trace, and a
//! source's own calls continue it.
//!
//! Nothing here exports spans: that is the application's choice (an OTLP exporter under a
//! `tracing_opentelemetry` layer, as the demo server's `--otlp-endpoint` shows). When no
//! OpenTelemetry layer is installed, every function here does nothing and costs a lookup.
//!
//! - The observe layer's `request` span takes the caller's `traceparent` header as its
//!   parent ([`adopt_parent`]).
//! - A 2026-07-28 request may carry its trace context in `params._meta` instead; the request
//!   span has started by the time the body is read, so the `source` span takes that context
//!   as its parent and links to the request span ([`source_span`]).
//! - The source sees the context of the `source` span (same trace id, our span as parent) in
//!   [`SourceRequest::trace`](crate::context::SourceRequest::trace), so the calls it makes
//!   are children of ours.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::context::TraceContext;
use crate::facts::loggable;

/// The span context a trace context names (its parent id as the span id).
fn span_context(trace: &TraceContext, remote: bool) -> Option<SpanContext> {
    let trace_id = TraceId::from_hex(trace.trace_id()).ok()?;
    let span_id = SpanId::from_hex(trace.parent_id()).ok()?;
    let flags = if trace.sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    // A tracestate the SDK refuses is dropped, as the W3C rules ask; the trace goes on.
    let state = trace
        .tracestate()
        .and_then(|state| state.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(trace_id, span_id, flags, remote, state))
}

/// The OpenTelemetry context of a remote caller's trace context.
fn remote(trace: &TraceContext) -> Option<opentelemetry::Context> {
    let span = span_context(trace, true)?;
    Some(opentelemetry::Context::new().with_remote_span_context(span))
}

/// Makes the caller's trace the parent of `span`, which must not have been entered yet.
pub(crate) fn adopt_parent(span: &Span, trace: &TraceContext) {
    if let Some(parent) = remote(trace) {
        // Fails only when no OpenTelemetry layer is installed or the span is disabled:
        // nothing to join then.
        let _ = span.set_parent(parent);
    }
}

/// On a request: the context of its request span (its span id as the parent), for a source
/// whose own `source` span OpenTelemetry does not record.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpanTrace(pub(crate) TraceContext);

/// Starts the request span's OpenTelemetry side: the caller's trace as its parent. Returns
/// the span's own context (its trace id is the caller's, or a new one), when an
/// OpenTelemetry layer records the span.
pub(crate) fn start_request(span: &Span, trace: Option<&TraceContext>) -> Option<TraceContext> {
    if let Some(trace) = trace {
        adopt_parent(span, trace);
    }
    context_of(span)
}

/// What the end of a request tells the request span.
pub(crate) struct Outcome<'a> {
    /// The operation (`resources/read`, `context.read`, ...).
    pub(crate) operation: Option<&'a str>,
    /// What it was about (a resource URI, a tool's name, a context id).
    pub(crate) target: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) error_code: Option<&'a str>,
    /// The answer was not sent whole.
    pub(crate) failed: bool,
    /// The MCP session: the id the answer issued (`initialize`), else the request's.
    pub(crate) session: Option<&'a str>,
}

/// Names the request span after its operation and records the answer on it, following the
/// OpenTelemetry MCP and HTTP conventions where they name an attribute.
///
/// The operation and target are the client's text (a JSON-RPC method, a tool name, a URI):
/// the span name takes the operation only when it is one we know (else `other`) and a tool
/// or prompt name only when it looks like one and the call was answered, so that a client
/// cannot mint span names; attributes take them as the access log does (controls replaced,
/// cut at 256 bytes).
pub(crate) fn finish_request(span: &Span, outcome: &Outcome<'_>) {
    if span.is_disabled() {
        return;
    }
    let known = outcome.operation.map(|operation| {
        crate::facts::KNOWN_OPERATIONS
            .iter()
            .find(|known| **known == operation)
            .copied()
            .unwrap_or("other")
    });
    let operation = known.unwrap_or("request");
    // Our REST operations are not MCP methods: they keep an attribute of their own.
    let rest = operation.starts_with("context.");
    if let Some(raw) = outcome.operation {
        span.set_attribute(
            if rest {
                "mcp_bastion.operation"
            } else {
                "mcp.method.name"
            },
            loggable(raw).into_owned(),
        );
    }
    let target_attribute = match operation {
        "resources/read" | "resources/subscribe" => Some("mcp.resource.uri"),
        "tools/call" => Some("gen_ai.tool.name"),
        "prompts/get" => Some("gen_ai.prompt.name"),
        "context.read" => Some("mcp_bastion.context_id"),
        _ => None,
    };
    if let (Some(attribute), Some(target)) = (target_attribute, outcome.target) {
        span.set_attribute(attribute, loggable(target).into_owned());
    }
    // Tool and prompt names that were served are few; resource URIs and context ids are not,
    // and stay out of the span name.
    let answered = outcome.error_code.is_none() && (200..300).contains(&outcome.status);
    let name = match (operation, outcome.target) {
        ("tools/call" | "prompts/get", Some(target))
            if answered && crate::facts::is_plain_name(target.as_bytes()) =>
        {
            format!("{operation} {target}")
        }
        _ => operation.to_owned(),
    };
    // The span has started (tracing-opentelemetry no longer renames it): rename it in
    // OpenTelemetry itself.
    span.context().span().update_name(name);
    if let Some(session) = outcome.session {
        span.set_attribute("mcp.session.id", session.to_owned());
    }
    if outcome.status != 0 {
        span.set_attribute("http.response.status_code", i64::from(outcome.status));
    }
    if let Some(code) = outcome.error_code {
        span.set_attribute("error.type", code.to_owned());
    }
    if outcome.failed || outcome.status >= 500 {
        let description = outcome
            .error_code
            .unwrap_or("the answer was not sent whole")
            .to_owned();
        span.set_status(opentelemetry::trace::Status::error(description));
    }
}

/// The trace context of `span` as a source should send it on (its span id as the parent),
/// when an OpenTelemetry layer records it.
fn context_of(span: &Span) -> Option<TraceContext> {
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    if !span_context.is_valid() {
        return None;
    }
    let traceparent = format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8()
    );
    let state = span_context.trace_state().header();
    TraceContext::parse(&traceparent, (!state.is_empty()).then_some(state.as_str()))
}

/// The context of the current span, when OpenTelemetry records it.
pub(crate) fn current() -> Option<TraceContext> {
    context_of(&Span::current())
}

/// Joins the `source` span (not yet entered) to the trace and returns the context the source
/// should send on, when an OpenTelemetry layer records the span.
///
/// `from_meta` is a trace context found in `params._meta` (2026-07-28) when the request had
/// none in its headers: it becomes the span's parent, and the span links to the request span
/// (`request_span`, its context as the observe layer kept it; else the current span).
///
/// `None` when OpenTelemetry does not record the `source` span (none is installed, or its
/// filter leaves DEBUG spans out).
pub(crate) fn continue_in(
    span: &Span,
    from_meta: Option<&TraceContext>,
    request_span: Option<&TraceContext>,
) -> Option<TraceContext> {
    if let Some(meta) = from_meta {
        // Not the current span: a layer's span (the cache's) may be current.
        let transport = request_span
            .and_then(|ours| span_context(ours, false))
            .unwrap_or_else(|| Span::current().context().span().span_context().clone());
        adopt_parent(span, meta);
        if transport.is_valid() {
            span.add_link(transport);
        }
    }
    context_of(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_remote_context_keeps_ids_flags_and_state() {
        let trace = TraceContext::parse(PARENT, Some("rojo=00f067aa0ba902b7")).unwrap();
        let context = remote(&trace).unwrap();
        let span = context.span();
        let span = span.span_context();
        assert!(span.is_remote());
        assert_eq!(span.trace_id().to_string(), trace.trace_id());
        assert_eq!(span.span_id().to_string(), trace.parent_id());
        assert!(span.is_sampled());
        assert_eq!(span.trace_state().get("rojo"), Some("00f067aa0ba902b7"));
    }

    #[test]
    fn without_a_layer_there_is_no_context_of_ours() {
        let trace = TraceContext::parse(PARENT, None).unwrap();
        let span = tracing::info_span!("source");
        assert_eq!(continue_in(&span, Some(&trace), None), None);
    }
}
