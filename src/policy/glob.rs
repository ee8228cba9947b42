//! A segment trie of glob patterns: `*` is one `/`-segment, `**` any number of segments
//! (zero included), and `*` inside a segment matches any run of characters. Matching runs
//! the trie as an automaton over the target's segments, keeping the set of nodes reachable so
//! far: each node is visited at most once per segment, so a decision costs
//! O(segments × active nodes) however many `**` a pattern has, and never depends on how many
//! patterns share no prefix with the target.

use std::collections::HashMap;

/// A pattern that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadGlob(pub(crate) String);

#[derive(Debug, Default)]
struct Node {
    /// Unique within its trie: identifies the node in the matcher's state sets.
    id: u32,
    /// The node is the target of a `**` edge: it stays reachable while segments are consumed.
    globstar: bool,
    literal: HashMap<Box<str>, Node>,
    /// Segments with a `*` inside (e.g. `build-*`): few, checked one by one.
    partial: Vec<(Box<str>, Node)>,
    any_segment: Option<Box<Node>>,
    any_segments: Option<Box<Node>>,
    /// Values of patterns that end here.
    values: Vec<u32>,
}

/// Glob patterns mapped to values (rule indices).
#[derive(Debug, Default)]
pub(crate) struct GlobTrie {
    root: Node,
    /// Number of nodes below the root (ids `1..=nodes`).
    nodes: u32,
}

fn segments(text: &str) -> impl Iterator<Item = &str> {
    text.trim_start_matches('/').split('/')
}

/// `*` inside one segment: any run of characters.
fn segment_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl GlobTrie {
    /// Adds `pattern`, which yields `value` when it matches.
    pub(crate) fn insert(&mut self, pattern: &str, value: u32) -> Result<(), BadGlob> {
        if pattern.is_empty() {
            return Err(BadGlob("empty pattern".into()));
        }
        // Validate first, so a refused pattern leaves no half-inserted branch behind.
        for segment in segments(pattern) {
            if segment.is_empty() {
                return Err(BadGlob(format!("pattern {pattern:?} has an empty segment")));
            }
            if segment != "**" && segment.contains("**") {
                return Err(BadGlob(format!(
                    "pattern {pattern:?}: '**' must be a whole segment"
                )));
            }
        }
        let count = &mut self.nodes;
        let mut fresh = |globstar: bool| {
            *count += 1;
            Node {
                id: *count,
                globstar,
                ..Node::default()
            }
        };
        let mut node = &mut self.root;
        for segment in segments(pattern) {
            node = match segment {
                "**" => node
                    .any_segments
                    .get_or_insert_with(|| Box::new(fresh(true))),
                "*" => node
                    .any_segment
                    .get_or_insert_with(|| Box::new(fresh(false))),
                _ if segment.contains('*') => {
                    let at = node.partial.iter().position(|(p, _)| &**p == segment);
                    let at = at.unwrap_or_else(|| {
                        node.partial.push((segment.into(), fresh(false)));
                        node.partial.len() - 1
                    });
                    &mut node.partial[at].1
                }
                _ => node
                    .literal
                    .entry(segment.into())
                    .or_insert_with(|| fresh(false)),
            };
        }
        node.values.push(value);
        Ok(())
    }

    /// Every value whose pattern matches `text`, in no particular order, possibly repeated.
    pub(crate) fn matches(&self, text: &str, out: &mut Vec<u32>) {
        // The nodes reachable after the segments consumed so far, each once. A `**` node,
        // once reached, stays in the set (it may take any further segment), and entering a
        // node enters its `**` child too (which may take none).
        // The live nodes are a handful: kept on the stack, no allocation per request.
        let mut current = NodeSet::new();
        enter(&self.root, &mut current);
        let mut next = NodeSet::new();
        for segment in segments(text) {
            for node in &current {
                if node.globstar {
                    // Its own `**` chain is already in `current` and loops by itself.
                    next.push(node);
                }
                if let Some(child) = node.literal.get(segment) {
                    enter(child, &mut next);
                }
                if let Some(child) = &node.any_segment {
                    enter(child, &mut next);
                }
                for (pattern, child) in &node.partial {
                    if segment_matches(pattern, segment) {
                        enter(child, &mut next);
                    }
                }
            }
            // A `**` node can arrive both by its loop and from its parent: keep it once.
            next.sort_unstable_by_key(|node| node.id);
            next.dedup_by_key(|node| node.id);
            std::mem::swap(&mut current, &mut next);
            next.clear();
            if current.is_empty() {
                return;
            }
        }
        for node in current {
            out.extend_from_slice(&node.values);
        }
    }
}

/// The nodes live while matching (spills to the heap past 16).
type NodeSet<'a> = smallvec::SmallVec<[&'a Node; 16]>;

/// Adds `node` and the chain of `**` nodes below it (each may match zero segments).
fn enter<'a>(mut node: &'a Node, set: &mut NodeSet<'a>) {
    loop {
        set.push(node);
        match &node.any_segments {
            Some(globstar) => node = globstar,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(patterns: &[&str], text: &str) -> Vec<u32> {
        let mut trie = GlobTrie::default();
        for (i, p) in patterns.iter().enumerate() {
            trie.insert(p, u32::try_from(i).unwrap()).unwrap();
        }
        let mut out = Vec::new();
        trie.matches(text, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn globs() {
        let patterns = [
            "project-alpha/**",
            "project-alpha/*",
            "*/getting-started",
            "**",
            "a/b",
            "build-*/status",
            "x/**/y",
        ];
        assert_eq!(
            matched(&patterns, "project-alpha/dependency-graph"),
            [0, 1, 3]
        );
        assert_eq!(matched(&patterns, "project-alpha/a/b"), [0, 3]);
        assert_eq!(
            matched(&patterns, "project-alpha"),
            [0, 3],
            "** matches zero segments"
        );
        assert_eq!(matched(&patterns, "public-docs/getting-started"), [2, 3]);
        assert_eq!(matched(&patterns, "a/b"), [3, 4]);
        assert_eq!(matched(&patterns, "build-42/status"), [3, 5]);
        assert_eq!(matched(&patterns, "x/y"), [3, 6]);
        assert_eq!(matched(&patterns, "x/1/2/y"), [3, 6]);
        assert_eq!(
            matched(&["project-alpha/**"], "project-alphabet/x"),
            Vec::<u32>::new()
        );
        assert_eq!(matched(&["/pkg.Svc/*"], "/pkg.Svc/Get"), [0]);
    }

    #[test]
    fn segment_wildcards() {
        assert!(segment_matches("build-*", "build-1"));
        assert!(segment_matches("*-status", "x-status"));
        assert!(segment_matches("a*b*c", "aXXbYYc"));
        assert!(!segment_matches("a*b*c", "aXXbYY"));
        assert!(!segment_matches("ab*ba", "aba"));
    }

    #[test]
    fn bad_patterns() {
        let mut trie = GlobTrie::default();
        assert!(trie.insert("", 0).is_err());
        assert!(trie.insert("a//b", 0).is_err());
        assert!(trie.insert("a/b**/c", 0).is_err());
    }

    /// `segments` many segments, `s1/s2/…`, the last one `last`.
    fn deep(segments: usize, last: &str) -> String {
        let mut parts: Vec<String> = (1..segments).map(|i| format!("s{i}")).collect();
        parts.push(last.to_owned());
        parts.join("/")
    }

    #[test]
    fn many_globstars_stay_polynomial() {
        // Tried split by split this is C(n + 6, 6) walks: about 4e11 for 256 segments.
        let patterns = ["**/**/**/**/**/**/x", "**/*/**/s2/**/**/x", "s1/**/**/*-x"];
        for n in [256, 512] {
            assert_eq!(matched(&patterns, &deep(n, "x")), [0, 1], "{n} segments");
            assert_eq!(matched(&patterns, &deep(n, "y")), Vec::<u32>::new());
            assert_eq!(matched(&patterns, &deep(n, "a-x")), [2]);
            assert_eq!(matched(&patterns, &format!("{}/x", deep(n, "x"))), [0, 1]);
            assert_eq!(matched(&patterns, &format!("s1/{}", deep(n, "b-x"))), [2]);
        }
        assert_eq!(matched(&patterns, "x"), [0]);
        assert_eq!(matched(&patterns, "s1/x"), [0]);
        assert_eq!(matched(&patterns, "s1/s2/x"), [0, 1]);
    }

    /// One pattern against one text, straight from the definition: no trie, no sharing.
    fn reference(pattern: &[&str], text: &[&str]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((&"**", rest)) => (0..=text.len()).any(|skip| reference(rest, &text[skip..])),
            Some((first, rest)) => text.split_first().is_some_and(|(segment, tail)| {
                reference_segment(first.as_bytes(), segment.as_bytes()) && reference(rest, tail)
            }),
        }
    }

    /// `*` in a segment, character by character.
    fn reference_segment(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => {
                (0..=text.len()).any(|skip| reference_segment(rest, &text[skip..]))
            }
            Some((c, rest)) => text
                .split_first()
                .is_some_and(|(t, tail)| t == c && reference_segment(rest, tail)),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        #[test]
        fn agrees_with_the_reference_matcher(
            patterns in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec!["a", "b", "ab", "*", "**", "a*", "*b", "a*b", "*a*"]),
                    1..6,
                ),
                1..5,
            ),
            text in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "ab", "ba", "aab", "abb", ""]),
                0..8,
            ),
            leading_slash in proptest::bool::ANY,
        ) {
            let patterns: Vec<String> = patterns.iter().map(|p| p.join("/")).collect();
            let text = format!("{}{}", if leading_slash { "/" } else { "" }, text.join("/"));
            let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let text_segments: Vec<&str> = segments(&text).collect();
            let expected: Vec<u32> = (0u32..)
                .zip(&patterns)
                .filter(|(_, p)| reference(&segments(p).collect::<Vec<_>>(), &text_segments))
                .map(|(i, _)| i)
                .collect();
            proptest::prop_assert_eq!(matched(&refs, &text), expected, "{:?} against {:?}", patterns, text);
        }
    }
}
