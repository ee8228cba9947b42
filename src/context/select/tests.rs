use super::*;
use crate::context::{Content, ContextEntry};

fn json(text: &str) -> ContextEntry {
    ContextEntry::text("doc", "json", text)
}

fn select(values: &[&str], entry: &ContextEntry) -> Result<String, SelectError> {
    let selector = Selector::parse(values.iter().copied(), None)?.expect("a selector");
    let selected = selector.apply(entry)?;
    Ok(selected.entry.data.content.as_text().unwrap().to_owned())
}

#[test]
fn pointers_follow_rfc_6901() {
    let doc = json(r#"{"a/b":1,"m~n":2,"":3,"list":[10,20,30],"o":{"x":{"y":true}}}"#);
    assert_eq!(select(&["/a~1b"], &doc).unwrap(), "1");
    assert_eq!(select(&["/m~0n"], &doc).unwrap(), "2");
    assert_eq!(select(&["/"], &doc).unwrap(), "3");
    assert_eq!(select(&["/list/2"], &doc).unwrap(), "30");
    assert_eq!(select(&["/o/x/y"], &doc).unwrap(), "true");
    // The empty pointer is the whole document, as the source wrote it.
    assert_eq!(
        select(&[""], &doc).unwrap(),
        doc.data.content.as_text().unwrap()
    );
    // `-` is the position after the last element: it names nothing.
    let err = select(&["/list/-"], &doc).unwrap_err();
    assert_eq!(
        err,
        SelectError::UnknownPointer {
            pointer: "/list/-".into()
        }
    );
    // Leading zeros and signs are not array indexes.
    for pointer in ["/list/01", "/list/+1", "/list/3", "/nope", "/o/x/y/z"] {
        let err = select(&[pointer], &doc).unwrap_err();
        assert_eq!(err.culprit(), Some(pointer), "{pointer}");
        assert!(err.to_string().contains(pointer), "{err}");
    }
}

#[test]
fn malformed_pointers_are_refused_by_name() {
    for (bad, part) in [
        ("/a~2", "~"),
        ("/a~", "~"),
        ("nodes", "starts with"),
        ("$.nodes", "starts with"),
        ("bytes=5", "A-B"),
        ("bytes=a-b", "decimal"),
        ("bytes=9-3", "before"),
        ("lines=0-3", "from 1"),
        ("lines=-3", "decimal"),
        ("bytes=99999999999999999999-", "decimal"),
    ] {
        let err = Selector::parse([bad], None).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(part), "{bad}: {message}");
        assert!(message.starts_with("invalid select"), "{message}");
        assert_eq!(err.culprit(), Some(bad));
    }
    let long = format!("/{}", "a".repeat(MAX_POINTER_LEN));
    let err = Selector::parse([long.as_str()], None).unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");
    assert!(
        err.to_string().len() < 200,
        "quotes the whole pointer: {err}"
    );
}

#[test]
fn bounds_and_conflicts() {
    let many: Vec<String> = (0..=MAX_POINTERS).map(|n| format!("/{n}")).collect();
    let err = Selector::parse(many.iter().map(String::as_str), None).unwrap_err();
    assert_eq!(err, SelectError::TooManyPointers { max: MAX_POINTERS });
    // Duplicates count once and order never matters.
    let a = Selector::parse(["/b", "/a", "/a"], None).unwrap().unwrap();
    let b = Selector::parse(["/a", "/b"], None).unwrap().unwrap();
    assert_eq!(a, b);
    assert_eq!(a.canonical(), b.canonical());
    for limit in [0, MAX_SELECT_LIMIT as u64 + 1, u64::MAX] {
        assert_eq!(
            Selector::parse(["/a"], Some(limit)).unwrap_err(),
            SelectError::InvalidLimit {
                max: MAX_SELECT_LIMIT
            }
        );
    }
    for (values, limit) in [
        (vec!["/a", "lines=1-2"], None),
        (vec!["lines=1-2", "bytes=0-1"], None),
        (vec!["lines=1-2"], Some(5)),
        (vec!["/a", "/b"], Some(5)),
    ] {
        assert!(
            matches!(
                Selector::parse(values.clone(), limit),
                Err(SelectError::Conflict(_))
            ),
            "{values:?}"
        );
    }
    assert_eq!(Selector::parse(Vec::<&str>::new(), None).unwrap(), None);
    let whole = Selector::parse(Vec::<&str>::new(), Some(3))
        .unwrap()
        .unwrap();
    assert_eq!(whole.target(), &Target::Whole);
    assert!(
        Selector::parse(["lines=1-"], None)
            .unwrap()
            .unwrap()
            .resume_at(3)
            .is_err()
    );
}

#[test]
fn several_pointers_answer_an_object_keyed_by_pointer() {
    let doc = json(r#"{"nodes":[{"id":"A"}],"edges":[],"meta":{"big":"xxxxxxxxxxxxxxxx"}}"#);
    let text = select(&["/nodes", "/edges"], &doc).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"/nodes": [{"id":"A"}], "/edges": []})
    );
    // One unknown pointer refuses the whole selection, naming it.
    let err = select(&["/nodes", "/ghost"], &doc).unwrap_err();
    assert_eq!(err.culprit(), Some("/ghost"));
    // Overlapping pointers can amplify; the selection never exceeds the context.
    let err = select(&["", "/meta", "/meta/big", "/nodes"], &doc).unwrap_err();
    assert_eq!(err, SelectError::LargerThanContext);
}

#[test]
fn pages_walk_an_array_to_its_end() {
    let doc = json(r#"{"items":[0,1,2,3,4,5,6]}"#);
    let first = Selector::parse(["/items"], Some(3)).unwrap().unwrap();
    let mut selector = first.clone();
    let mut seen = Vec::new();
    loop {
        let page = selector.apply(&doc).unwrap();
        assert_eq!(page.total, Some(7));
        let items: Vec<u64> =
            serde_json::from_str(page.entry.data.content.as_text().unwrap()).unwrap();
        seen.extend(items);
        match page.next_offset {
            Some(next) => selector = first.clone().resume_at(next).unwrap(),
            None => break,
        }
    }
    assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6]);
    // Each page is its own version; all share the scope.
    let second = first.clone().resume_at(3).unwrap();
    assert_ne!(first.version_of("v1"), second.version_of("v1"));
    assert_eq!(first.scope(), second.scope());
    // Past the end, not an array, a top-level array, an empty one.
    let err = first.clone().resume_at(7).unwrap().apply(&doc).unwrap_err();
    assert!(
        matches!(err, SelectError::PastTheEnd { total: 7, .. }),
        "{err}"
    );
    let err = Selector::parse([""], Some(2)).unwrap().unwrap().apply(&doc);
    assert_eq!(
        err.unwrap_err(),
        SelectError::NotAnArray {
            pointer: String::new()
        }
    );
    let top = json("[1,2,3]");
    let page = Selector::parse(Vec::<&str>::new(), Some(2))
        .unwrap()
        .unwrap()
        .apply(&top)
        .unwrap();
    assert_eq!(page.entry.data.content.as_text(), Some("[1,2]"));
    let empty = json(r#"{"items":[]}"#);
    let page = first.apply(&empty).unwrap();
    assert_eq!((page.total, page.next_offset), (Some(0), None));
}

#[test]
fn ranges_cut_text_and_bytes() {
    let text = ContextEntry::text("notes", "text", "one\ntwo\nthree\nfour");
    assert_eq!(select(&["lines=2-3"], &text).unwrap(), "two\nthree\n");
    assert_eq!(select(&["lines=4-"], &text).unwrap(), "four");
    assert_eq!(select(&["lines=3-99"], &text).unwrap(), "three\nfour");
    assert_eq!(select(&["bytes=0-2"], &text).unwrap(), "one");
    assert_eq!(select(&["bytes=14-999"], &text).unwrap(), "four");
    let err = select(&["lines=5-"], &text).unwrap_err();
    assert!(
        matches!(err, SelectError::PastTheEnd { total: 4, .. }),
        "{err}"
    );
    assert_eq!(err.culprit(), Some("lines=5-"));
    let err = select(&["bytes=18-20"], &text).unwrap_err();
    assert!(
        matches!(err, SelectError::PastTheEnd { total: 18, .. }),
        "{err}"
    );
    // A range never splits a character of text.
    let accents = ContextEntry::text("notes", "text", "héllo");
    assert!(matches!(
        select(&["bytes=0-1"], &accents),
        Err(SelectError::InvalidRange { .. })
    ));
    assert_eq!(select(&["bytes=0-2"], &accents).unwrap(), "hé");
    // Binary content: bytes, not lines.
    let blob = ContextEntry::binary("blob", "bytes", vec![0u8, 1, 2, 3, 4]);
    let selector = Selector::parse(["bytes=1-2"], None).unwrap().unwrap();
    let selected = selector.apply(&blob).unwrap();
    assert_eq!(
        selected.entry.data.content,
        Content::Binary(vec![1u8, 2].into())
    );
    let selector = Selector::parse(["lines=1-2"], None).unwrap().unwrap();
    assert!(selector.apply(&blob).is_err());
    // Ranges work on JSON too (as text).
    assert_eq!(select(&["bytes=0-0"], &json("[1]")).unwrap(), "[");
}

#[test]
fn pointers_need_json() {
    let text = ContextEntry::text("markdown", "text", "# Title");
    assert!(matches!(
        select(&["/a"], &text),
        Err(SelectError::NotJson { .. })
    ));
    let broken = json("{not json");
    assert_eq!(select(&["/a"], &broken), Err(SelectError::InvalidJson));
    assert_eq!(select(&[""], &broken), Err(SelectError::InvalidJson));
    // JSON by MIME type, whatever the format says.
    let typed = ContextEntry::text("x", "text", r#"{"a":1}"#)
        .with_mime_type("application/vnd.x+json; charset=utf-8");
    assert_eq!(select(&["/a"], &typed).unwrap(), "1");
}

#[test]
fn versions_differ_per_selection() {
    let doc = json(r#"{"a":1,"b":2}"#);
    let versions: Vec<String> = [vec!["/a"], vec!["/b"], vec!["/a", "/b"], vec!["bytes=0-3"]]
        .into_iter()
        .map(|values| {
            Selector::parse(values, None)
                .unwrap()
                .unwrap()
                .apply(&doc)
                .unwrap()
                .entry
                .version
        })
        .collect();
    let mut unique = versions.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), versions.len(), "{versions:?}");
    assert!(versions.iter().all(|v| v.starts_with(&doc.version)));
    assert!(!versions.contains(&doc.version));
}
