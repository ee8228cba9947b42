//! The shipped operations assets name only metrics the crate exports: every `mcp_*` series in
//! `ops/prometheus/alerts.yml` and `ops/grafana/mcp-bastion.json` is one of
//! `observe::metrics`' names (histograms with their `_bucket` / `_sum` / `_count` series).
#![cfg(feature = "metrics")]

use mcp_bastion::observe::metrics;

const ALERTS: &str = include_str!("../ops/prometheus/alerts.yml");
const DASHBOARD: &str = include_str!("../ops/grafana/mcp-bastion.json");

/// Every `mcp_…` identifier in `text`.
fn series(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("mcp_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        // Not part of a longer identifier (e.g. `some_mcp_x`).
        let preceded = rest[..start]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded {
            found.push(&tail[..end]);
        }
        rest = &tail[end..];
    }
    found
}

#[test]
fn alerts_and_dashboard_use_exported_metric_names() {
    let exported = [
        metrics::REQUESTS,
        metrics::DURATION,
        metrics::IN_FLIGHT,
        metrics::AUTH_FAILURES,
        metrics::POLICY_DENIALS,
        metrics::RATE_LIMITED,
        metrics::SHED,
        metrics::CACHE,
        metrics::CONTEXT_SIZE,
        metrics::SOURCE_DURATION,
        metrics::SOURCE_ERRORS,
        metrics::CACHE_ENTRIES,
        metrics::CACHE_BYTES,
        metrics::CACHE_EVICTIONS,
        metrics::CACHE_JOINS,
        metrics::RATE_LIMIT_KEYS,
        metrics::RATE_LIMIT_EVICTIONS,
        metrics::LOG_LINES_DROPPED,
    ];
    for (file, text) in [("alerts.yml", ALERTS), ("mcp-bastion.json", DASHBOARD)] {
        let names = series(text);
        assert!(names.len() >= 5, "{file}: {names:?}");
        for name in names {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| exported.contains(base))
                .unwrap_or(name);
            assert!(
                exported.contains(&base),
                "{file} names {name}, which nothing exports"
            );
        }
    }
    // The dashboard is valid JSON with panels.
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| p.len() >= 10)
    );
}
