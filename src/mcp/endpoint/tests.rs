use super::*;

#[test]
fn listed_hosts_and_sessions() {
    let endpoint = Endpoint::builder()
        .allowed_hosts(["mcp.example.com"])
        .build()
        .unwrap();
    assert!(endpoint.hosts().allows("MCP.example.com"));
    assert!(!endpoint.hosts().allows("localhost"));
    assert!(Endpoint::builder().allowed_hosts(["a/b"]).build().is_err());
    assert!(
        Endpoint::builder()
            .sessions(true)
            .max_sessions(0)
            .build()
            .is_err()
    );
}

#[test]
fn listed_origins_and_validation() {
    let endpoint = Endpoint::builder()
        .allowed_origins(["https://app.example.com"])
        .build()
        .unwrap();
    assert!(endpoint.origins().allows("https://APP.example.com"));
    assert!(!endpoint.origins().allows("http://localhost"));
    assert!(
        Endpoint::builder()
            .allowed_origins(["nope"])
            .build()
            .is_err()
    );
    assert!(Endpoint::builder().mcp_path("mcp").build().is_err());
    assert!(
        Endpoint::builder()
            .mcp_path("/context/mcp")
            .build()
            .is_err()
    );
    assert!(Endpoint::builder().body_limit(0).build().is_err());
    let err = Endpoint::builder().page_size(5000).build().unwrap_err();
    assert!(err.to_string().contains("page_size"));
}

#[test]
fn paths_are_validated_and_reach_the_detector() {
    for bad in ["", "/", "docs", "/docs/", "/a?b", "/a%2fb"] {
        let err = Endpoint::builder().rest_prefix(bad).build().unwrap_err();
        assert!(err.message().contains("rest_prefix"), "{bad}: {err}");
    }
    let err = Endpoint::builder()
        .rest_prefix("/api")
        .mcp_path("/api/mcp")
        .build()
        .unwrap_err();
    assert!(err.message().contains("collides"), "{err}");
    let endpoint = Endpoint::builder()
        .rest_prefix("/docs")
        .mcp_path("/rpc")
        .build()
        .unwrap();
    let detector = endpoint.dialect_detector();
    let headers = http::HeaderMap::new();
    let detect = |path: &'static str| detector.detect(&http::Uri::from_static(path), &headers);
    assert_eq!(detect("/rpc"), crate::error::Dialect::JsonRpc);
    assert_eq!(detect("/docs/a/b"), crate::error::Dialect::Rest);
    assert_eq!(detect("/context/a"), crate::error::Dialect::Other);
    assert_eq!(detect("/mcp"), crate::error::Dialect::Other);
}
