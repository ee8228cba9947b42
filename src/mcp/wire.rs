//! The JSON shapes the endpoint sends and the policy filter reads back, defined once.
//!
//! REST: the seed's context envelope, a listing page, a batch read and its results. MCP: the
//! `resources/list`, `tools/list` and `prompts/list` results, whose entries the policy layer
//! filters for any inner server; members these types do not name are kept as they came.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET {rest}/{id}`: `{"contextId","version","timestamp","data":{"type","format","content"}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContextEnvelope<'a> {
    pub(crate) context_id: &'a str,
    pub(crate) version: &'a str,
    pub(crate) timestamp: String,
    pub(crate) data: EnvelopeData<'a>,
}

/// The `data` member of a [`ContextEnvelope`].
#[derive(Debug, Serialize)]
pub(crate) struct EnvelopeData<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
    pub(crate) format: &'a str,
    pub(crate) content: std::borrow::Cow<'a, str>,
    /// `"base64"` when `content` carries binary data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) encoding: Option<&'static str>,
}

/// `GET {rest}`: a page of contexts.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContextListing {
    pub(crate) items: Vec<ContextListItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
}

/// One entry of a [`ContextListing`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContextListItem {
    pub(crate) context_id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
}

/// `POST {rest}`: the ids to read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    pub(crate) ids: Vec<String>,
}

/// The answer to a [`BatchRequest`]: one result per id, in order.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BatchResults {
    pub(crate) results: Vec<BatchResult>,
}

/// One id's outcome: its status and the envelope, or the error.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchResult {
    pub(crate) context_id: String,
    pub(crate) status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<Value>,
}

/// A `resources/list` result.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceList {
    pub(crate) resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

/// A resource of a [`ResourceList`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Resource {
    pub(crate) uri: String,
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
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
