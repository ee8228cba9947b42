//! Contexts: validated [`ContextId`]s, the URI mapping, and the [`ContextSource`] trait with
//! its shipped implementations ([`StaticSource`], [`DirSource`], [`source_fn`]) and its
//! type-erased form for sources chosen at run time ([`BoxContextSource`]).
//!
//! ```
//! use mcp_bastion::context::{ContextEntry, ContextId, ResourceUriMapping, StaticSource};
//!
//! let id = ContextId::parse("public-docs/getting-started")?;
//! let source = StaticSource::new().with_context(
//!     id.clone(),
//!     ContextEntry::text("markdown", "text", "# Getting Started"),
//! );
//! assert_eq!(ResourceUriMapping::default().to_uri(&id), "ctx://public-docs/getting-started");
//! # let _ = source;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod boxed;
mod data;
mod dir_source;
mod fn_source;
mod id;
mod label_check;
mod select;
mod source;
mod static_source;
pub(crate) mod timestamp;
mod trace;
mod uri;

pub use boxed::BoxContextSource;
pub(crate) use data::to_hex;
pub use data::{
    CacheHint, CacheScope, Content, ContextData, ContextEntry, ContextLabels, ContextMeta,
    ResourceTemplate, content_version,
};
pub use dir_source::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_LIST_ENTRIES, DirSource};
pub use fn_source::{FnSource, source_fn};
pub(crate) use id::bad_percent_offset;
pub use id::{ContextId, InvalidContextId, MAX_CONTEXT_ID_LEN};
pub use label_check::LabelCheck;
pub use select::{
    DEFAULT_SELECT_LIMIT, MAX_POINTER_LEN, MAX_POINTERS, MAX_SELECT_LIMIT, PageSpec, SelectError,
    Selected, SelectionSupport, Selector, Target, is_json,
};
pub use source::{ContextSource, Deadline, ListRequest, Page, SourceError, SourceRequest};
pub use static_source::StaticSource;
pub use trace::TraceContext;
pub use uri::{InvalidResourceUri, ResourceUriMapping};
