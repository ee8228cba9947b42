//! The data a [`ContextSource`](super::ContextSource) hands out: contexts, their content,
//! caching hints, listing entries and resource templates.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::id::ContextId;

/// The content of a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// UTF-8 text (MCP `text`).
    Text(String),
    /// Bytes (MCP `blob`, base64 in JSON).
    Binary(Bytes),
}

impl Content {
    /// The text, if this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Binary(_) => None,
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(bytes) => bytes,
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `data` of a context envelope: `{"type","format","content"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContextData {
    /// What the context is, e.g. `dependencyGraph` or `markdown` (`type` on the wire).
    pub kind: String,
    /// How `content` is written, e.g. `json` or `text`.
    pub format: String,
    /// The MIME type (MCP `mimeType`).
    pub mime_type: String,
    /// The content itself.
    pub content: Content,
}

/// How long and for whom a context may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CacheScope {
    /// The same for every caller; shared caches may keep it.
    Public,
    /// Specific to the caller; only caches of that caller may keep it.
    #[default]
    Private,
    /// Never stored.
    NoStore,
}

impl CacheScope {
    /// `public`, `private` or `no-store`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::NoStore => "no-store",
        }
    }
}

/// A source's hint on caching a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CacheHint {
    /// How long the context stays fresh (`None` = revalidate every time).
    pub ttl: Option<Duration>,
    /// Who may share a cached copy.
    pub scope: CacheScope,
}

/// The sensitivity labels a source gave the contexts a response carries, by context id, in
/// the response extensions: what [`PolicyLayer`](crate::policy::PolicyLayer) re-checks reads
/// and filters listings with. Labels never travel in a body the client sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextLabels(pub std::collections::BTreeMap<String, BTreeSet<String>>);

impl ContextLabels {
    /// Records the labels of one context (nothing when it has none).
    pub fn add(&mut self, id: &ContextId, labels: &BTreeSet<String>) {
        if !labels.is_empty() {
            self.0
                .entry(id.as_str().to_owned())
                .or_default()
                .extend(labels.iter().cloned());
        }
    }

    /// The labels of the context `id`, when the source gave any.
    pub fn of(&self, id: &str) -> Option<&BTreeSet<String>> {
        self.0.get(id)
    }

    /// Puts these labels into `response`'s extensions, when there are any.
    pub fn attach<B>(self, response: &mut http::Response<B>) {
        if !self.0.is_empty() {
            response.extensions_mut().insert(self);
        }
    }
}

/// A context as a source returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContextEntry {
    /// The payload.
    pub data: ContextData,
    /// A version that changes whenever the content does; used as the ETag.
    pub version: String,
    /// When the content last changed, if known.
    pub last_modified: Option<SystemTime>,
    /// Caching hint.
    pub cache: CacheHint,
    /// Human-readable title for listings.
    pub title: Option<String>,
    /// Description for listings.
    pub description: Option<String>,
    /// Sensitivity labels the source assigns (policy conditions test them, beside the labels
    /// the policy assigns by pattern).
    pub labels: BTreeSet<String>,
}

/// A version derived from the content: the first 16 bytes of its SHA-256, in hex.
pub fn content_version(content: &[u8]) -> String {
    to_hex(&Sha256::digest(content)[..16])
}

/// Lower-case hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

impl ContextEntry {
    /// A context with this content; the version is derived from the content and the MIME
    /// type is guessed from `format` (`json` -> `application/json`, `markdown`/`md`
    /// -> `text/markdown`, text -> `text/plain`, bytes -> `application/octet-stream`).
    pub fn new(kind: impl Into<String>, format: impl Into<String>, content: Content) -> Self {
        let kind = kind.into();
        let format = format.into();
        let mime_type = guess_mime(&kind, &format, &content).to_owned();
        let version = content_version(content.as_bytes());
        Self {
            data: ContextData {
                kind,
                format,
                mime_type,
                content,
            },
            version,
            last_modified: None,
            cache: CacheHint::default(),
            title: None,
            description: None,
            labels: BTreeSet::new(),
        }
    }

    /// A text context.
    pub fn text(
        kind: impl Into<String>,
        format: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self::new(kind, format, Content::Text(text.into()))
    }

    /// A binary context.
    pub fn binary(
        kind: impl Into<String>,
        format: impl Into<String>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        Self::new(kind, format, Content::Binary(bytes.into()))
    }

    /// Sets the MIME type.
    #[must_use]
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.data.mime_type = mime_type.into();
        self
    }

    /// Sets the version (instead of the content hash).
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the last-modified time.
    #[must_use]
    pub fn with_last_modified(mut self, at: SystemTime) -> Self {
        self.last_modified = Some(at);
        self
    }

    /// Sets the caching hint.
    #[must_use]
    pub fn with_cache(mut self, ttl: Option<Duration>, scope: CacheScope) -> Self {
        self.cache = CacheHint { ttl, scope };
        self
    }

    /// Sets the title shown in listings.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the description shown in listings.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a sensitivity label.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.labels.insert(label.into());
        self
    }

    /// The listing entry for this context.
    pub fn meta(&self, id: ContextId) -> ContextMeta {
        ContextMeta {
            id,
            kind: self.data.kind.clone(),
            mime_type: self.data.mime_type.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            size: Some(self.data.content.len() as u64),
            version: Some(self.version.clone()),
            labels: self.labels.clone(),
        }
    }
}

fn guess_mime(kind: &str, format: &str, content: &Content) -> &'static str {
    match (format, content) {
        ("json", _) => "application/json",
        ("markdown" | "md", _) => "text/markdown",
        (_, Content::Text(_)) if kind == "markdown" => "text/markdown",
        (_, Content::Text(_)) => "text/plain",
        (_, Content::Binary(_)) => "application/octet-stream",
    }
}

/// A listing entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContextMeta {
    /// The context id.
    pub id: ContextId,
    /// What the context is (`type` of its data).
    pub kind: String,
    /// Its MIME type.
    pub mime_type: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Size in bytes, if known.
    pub size: Option<u64>,
    /// Current version, if known without reading the content.
    pub version: Option<String>,
    /// Sensitivity labels the source assigns.
    pub labels: BTreeSet<String>,
}

impl ContextMeta {
    /// An entry with only the required fields.
    pub fn new(id: ContextId, kind: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Self {
            id,
            kind: kind.into(),
            mime_type: mime_type.into(),
            title: None,
            description: None,
            size: None,
            version: None,
            labels: BTreeSet::new(),
        }
    }
}

/// An MCP resource template (RFC 6570 URI template) for contexts not in the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceTemplate {
    /// The URI template, e.g. `ctx://builds/{id}/status`.
    pub uri_template: String,
    /// Programmatic name.
    pub name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// MIME type of the contexts it produces.
    pub mime_type: Option<String>,
}

impl ResourceTemplate {
    /// A template with a URI template and a name.
    pub fn new(uri_template: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            uri_template: uri_template.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: None,
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the MIME type.
    #[must_use]
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }
}
