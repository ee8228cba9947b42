//! A segment trie of glob patterns: `*` is one `/`-segment, `**` any number of segments
//! (zero included), and `*` inside a segment matches any run of characters. Matching walks
//! the target's segments, so its cost depends on the target and the patterns that match it,
//! never on how many patterns there are.

use std::collections::HashMap;

/// A pattern that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadGlob(pub(crate) String);

#[derive(Debug, Default)]
struct Node {
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
        let mut node = &mut self.root;
        for segment in segments(pattern) {
            if segment.is_empty() {
                return Err(BadGlob(format!("pattern {pattern:?} has an empty segment")));
            }
            node = match segment {
                "**" => node.any_segments.get_or_insert_with(Box::default),
                "*" => node.any_segment.get_or_insert_with(Box::default),
                _ if segment.contains("**") => {
                    return Err(BadGlob(format!(
                        "pattern {pattern:?}: '**' must be a whole segment"
                    )));
                }
                _ if segment.contains('*') => {
                    let at = node.partial.iter().position(|(p, _)| &**p == segment);
                    let at = at.unwrap_or_else(|| {
                        node.partial.push((segment.into(), Node::default()));
                        node.partial.len() - 1
                    });
                    &mut node.partial[at].1
                }
                _ => node.literal.entry(segment.into()).or_default(),
            };
        }
        node.values.push(value);
        Ok(())
    }

    /// Every value whose pattern matches `text`, in no particular order, possibly repeated.
    pub(crate) fn matches(&self, text: &str, out: &mut Vec<u32>) {
        let parts: Vec<&str> = segments(text).collect();
        walk(&self.root, &parts, out);
    }
}

fn walk(node: &Node, rest: &[&str], out: &mut Vec<u32>) {
    if let Some(globstar) = &node.any_segments {
        // `**` takes zero or more segments.
        for skip in 0..=rest.len() {
            walk(globstar, &rest[skip..], out);
        }
    }
    let Some((first, tail)) = rest.split_first() else {
        out.extend_from_slice(&node.values);
        return;
    };
    if let Some(child) = node.literal.get(*first) {
        walk(child, tail, out);
    }
    if let Some(child) = &node.any_segment {
        walk(child, tail, out);
    }
    for (pattern, child) in &node.partial {
        if segment_matches(pattern, first) {
            walk(child, tail, out);
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
}
