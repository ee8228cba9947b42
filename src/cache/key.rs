//! [`CacheKey`]: which stored answer a request may be answered with.

use http::{Method, Uri};
use serde_json::Value;

use crate::mcp::protocol::Era;
use crate::mcp::{
    Endpoint, McpRequest, Operation, RpcMessage, rest_selection_key, rpc_selection_key,
};

/// A cacheable request, before it is known whether its answer is shared or per principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Lookup {
    /// What was asked, in a canonical form (`rest:<path>?<query>`, `rpc:<version>:<method>:…`).
    pub(crate) what: String,
    /// The context it is about, when it names one.
    pub(crate) context_id: Option<String>,
    /// `HEAD`: answer without a body.
    pub(crate) head: bool,
    /// The JSON-RPC id to answer with (JSON-RPC only).
    pub(crate) rpc_id: Option<Value>,
    /// The protocol era is 2026-07-28.
    pub(crate) modern: bool,
}

/// The key of a stored answer: what was asked, and by whom when it is not shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) what: String,
    /// `None`: a public entry, shared; else the principal's subject.
    pub(crate) owner: Option<String>,
}

impl Lookup {
    /// The lookup for a classified request, or `None` when it is not a cacheable read.
    pub(crate) fn of(
        classified: &McpRequest,
        method: &Method,
        uri: &Uri,
        endpoint: &Endpoint,
    ) -> Option<Self> {
        let query = uri.query().unwrap_or("");
        let head = method == Method::HEAD;
        match &classified.operation {
            // The selection keys the entry, in its canonical form: `?select=` never returns
            // another projection, and a query the endpoint refuses is not cached.
            Operation::ReadContext(id) => Some(Self {
                what: format!(
                    "rest:read:{}?{}",
                    id.as_str(),
                    rest_selection_key(uri.query())?
                ),
                context_id: Some(id.as_str().to_owned()),
                head,
                rpc_id: None,
                modern: false,
            }),
            Operation::ListContexts => Some(Self {
                what: format!("rest:list?{query}"),
                context_id: None,
                head,
                rpc_id: None,
                modern: false,
            }),
            Operation::JsonRpc(rpc) => {
                let [RpcMessage::Call(call)] = rpc.messages.as_slice() else {
                    return None; // batches and responses pass through
                };
                // Batches are answered whole; stateful-era sessions are checked by the
                // endpoint, which a hit would skip.
                if rpc.batch || (rpc.era == Era::Legacy && endpoint.sessions.is_some()) {
                    return None;
                }
                let id = call.id.clone()?;
                let param = |name: &str| call.params.get(name).map(Value::to_string);
                let (what, context_id) = match call.method.as_str() {
                    "resources/read" => {
                        let uri = call.params.get("uri")?.as_str()?;
                        // Invalidation names contexts: remember the id the URI maps to.
                        let id = endpoint
                            .uri_mapping()
                            .to_id(uri)
                            .map_or_else(|_| uri.to_owned(), |id| id.as_str().to_owned());
                        // The URI's length first: no URI and selection pair spells another.
                        let selection = rpc_selection_key(&call.params)?;
                        (format!("read:{}:{uri}#{selection}", uri.len()), Some(id))
                    }
                    "resources/list" => (
                        format!("list:{}", param("cursor").unwrap_or_default()),
                        None,
                    ),
                    "resources/templates/list" => (
                        format!("templates:{}", param("cursor").unwrap_or_default()),
                        None,
                    ),
                    "server/discover" => ("discover".to_owned(), None),
                    _ => return None,
                };
                let modern = rpc.era == Era::Modern;
                Some(Self {
                    what: format!("rpc:{}:{what}", rpc.version),
                    context_id,
                    head: false,
                    rpc_id: Some(id),
                    modern,
                })
            }
            _ => None,
        }
    }

    pub(crate) fn key(&self, owner: Option<&str>) -> CacheKey {
        CacheKey {
            what: self.what.clone(),
            owner: owner.map(str::to_owned),
        }
    }
}
