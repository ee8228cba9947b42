//! The JSON shapes of the endpoint's answers, defined once: the endpoint writes them, the
//! policy filter reads its listings back, and `McpClient` (feature
//! `client`) decodes them.
//!
//! REST: the seed's context envelope, a listing page, a batch read and its results. MCP: the
//! `resources/list`, `tools/list` and `prompts/list` results, whose entries the policy layer
//! filters for any inner server; members these types do not name are kept as they came.
//!
//! ```
//! use mcp_bastion::mcp::wire::ContextEnvelope;
//!
//! let body = r##"{"contextId":"docs/a","version":"v1","timestamp":"2026-01-01T00:00:00.000Z",
//!                 "data":{"type":"markdown","format":"text","content":"# A"}}"##;
//! let context: ContextEnvelope<'_> = serde_json::from_str(body)?;
//! assert_eq!(context.data.content, "# A");
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET {rest}/{id}`: `{"contextId","version","timestamp","data":{"type","format","content"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ContextEnvelope<'a> {
    /// The context's id (`project-alpha/dependency-graph`).
    pub context_id: Cow<'a, str>,
    /// Its version (the `ETag` without quotes).
    pub version: Cow<'a, str>,
    /// When it last changed (RFC 3339, milliseconds, UTC).
    pub timestamp: String,
    /// What it holds.
    pub data: EnvelopeData<'a>,
    /// What was selected, when the read asked for a selection (`?select=`, `limit`,
    /// `cursor`): `data` then holds only that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
}

/// What a selected read answered: the `selection` of a [`ContextEnvelope`], and in MCP
/// the `_meta["io.github.mcp-bastion/selection"]` of the resource's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Selection {
    /// The JSON Pointers (sorted, without duplicates) or the text range selected; empty
    /// when only a page of the whole document was asked for.
    pub select: Vec<String>,
    /// The page size, when the read paged an array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// How many items the paged array holds, or bytes / lines the content has for a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The cursor of the next page (send it back as `cursor`); none on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The `data` member of a [`ContextEnvelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnvelopeData<'a> {
    /// The kind of context (`markdown`, `dependency-graph`, ...), the seed's `type`.
    #[serde(rename = "type")]
    pub kind: Cow<'a, str>,
    /// How `content` is written (`text`, `json`, ...).
    pub format: Cow<'a, str>,
    /// The content: text, or base64 when `encoding` says so.
    pub content: Cow<'a, str>,
    /// `"base64"` when `content` carries binary data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Cow<'a, str>>,
}

/// `GET {rest}`: a page of contexts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ContextListing {
    /// The contexts of this page.
    pub items: Vec<ContextListItem>,
    /// The cursor of the next page (`?cursor=`); none on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One entry of a [`ContextListing`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ContextListItem {
    /// The context's id.
    pub context_id: String,
    /// The kind of context (the seed's `type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its media type.
    pub mime_type: String,
    /// A title for people, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Its version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `POST {rest}`: the ids to read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    pub(crate) ids: Vec<String>,
}

/// `POST {rest}`'s answer to `{"ids":[...]}`: one result per id, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchResults {
    /// One per id asked for, in the same order.
    pub results: Vec<BatchResult>,
}

/// One id's outcome in [`BatchResults`]: its status and the envelope, or the error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BatchResult {
    /// The id asked for.
    pub context_id: String,
    /// The HTTP status a single read of it would have had.
    pub status: u16,
    /// The [`ContextEnvelope`], when the read succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The REST error envelope, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// A `resources/list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceList {
    /// The resources of this page.
    pub resources: Vec<Resource>,
    /// The cursor of the next page; none on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Members this type does not name, as they came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A resource of a [`ResourceList`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Resource {
    /// Its URI (`ctx://project-alpha/dependency-graph`).
    pub uri: String,
    /// Its name.
    pub name: String,
    /// A title for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Members this type does not name (`annotations`, `_meta`, ...), as they came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A `resources/templates/list` result.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TemplateList {
    pub(crate) resource_templates: Vec<Template>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

/// A resource template: its URI template, and the rest as it came.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Template {
    pub(crate) uri_template: String,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

/// A `tools/list` result.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ToolList {
    pub(crate) tools: Vec<Named>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

/// A `prompts/list` result.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PromptList {
    pub(crate) prompts: Vec<Named>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

/// A tool or prompt: its name, and the rest as it came.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Named {
    pub(crate) name: String,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

pub(crate) use crate::error::json_bytes as to_bytes;
