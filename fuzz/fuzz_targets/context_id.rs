//! ContextId parsing and the resource-URI mapping: no panics, every accepted id satisfies the
//! documented grammar, and both mappings round-trip.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_bastion::context::{ContextId, MAX_CONTEXT_ID_LEN, ResourceUriMapping};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    raw: &'a str,
    scheme: &'a str,
    id_prefix: &'a str,
}

fn check_grammar(id: &ContextId) {
    let text = id.as_str();
    assert!(!text.is_empty() && text.len() <= MAX_CONTEXT_ID_LEN);
    for segment in text.split('/') {
        assert!(!segment.is_empty() && segment != "." && segment != "..");
        assert!(
            segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
        );
    }
    // An id is its own encoding and parses to itself.
    assert_eq!(&ContextId::parse(text).unwrap(), id);
    assert_eq!(&ContextId::from_percent_encoded(text).unwrap(), id);
}

fuzz_target!(|input: Input<'_>| {
    if let Ok(id) = ContextId::parse(input.raw) {
        assert_eq!(id.as_str(), input.raw);
        check_grammar(&id);
    }
    if let Ok(id) = ContextId::from_percent_encoded(input.raw) {
        check_grammar(&id);
    }
    let mapping = ResourceUriMapping::default()
        .with_scheme(input.scheme, input.id_prefix)
        .unwrap_or_default();
    if let Ok(id) = mapping.to_id(input.raw) {
        check_grammar(&id);
        let uri = mapping.to_uri(&id);
        assert_eq!(mapping.to_id(&uri).unwrap(), id, "id -> uri -> id");
        // Without percent-escapes, the URI comes back unchanged but for the scheme's case.
        if !input.raw.contains('%') {
            let (scheme, rest) = input.raw.split_once("://").unwrap();
            assert_eq!(
                uri,
                format!("{}://{rest}", scheme.to_ascii_lowercase()),
                "uri -> id -> uri"
            );
        }
    }
    if let Ok(id) = ContextId::parse(input.raw) {
        let uri = mapping.to_uri(&id);
        assert_eq!(mapping.to_id(&uri).unwrap(), id, "every id has a URI");
    }
});
