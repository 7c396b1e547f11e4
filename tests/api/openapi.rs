//! The committed OpenAPI document must match the code. Regenerate it with
//! `LINLI_UPDATE_OPENAPI=1 cargo test openapi` (or `cargo run -- openapi > openapi/openapi.json`).

use linli::error::ErrorCode;

#[test]
fn committed_openapi_document_is_up_to_date() {
    let generated = linli::openapi::document_json().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var("LINLI_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `LINLI_UPDATE_OPENAPI=1 cargo test openapi` and commit it"
    );
}

#[test]
fn every_route_is_documented_with_its_errors() {
    let doc: serde_json::Value =
        serde_json::from_str(&linli::openapi::document_json().unwrap()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/me/phone",
        "/api/v1/me/export",
        "/api/v1/communities/{community_id}/join",
        "/api/v1/communities/{community_id}/memberships/{membership_id}/approve",
        "/api/v1/role-grants",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(expected), "{expected} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "bearer scheme"
    );
    let codes = doc["components"]["schemas"]["ErrorCode"].to_string();
    for code in [
        ErrorCode::MalformedJson,
        ErrorCode::ValidationFailed,
        ErrorCode::TokenExpired,
        ErrorCode::WechatCodeInvalid,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
    ] {
        let name = serde_json::to_value(code).unwrap();
        assert!(
            codes.contains(name.as_str().unwrap()),
            "{name} not documented"
        );
    }
    // Every operation under /api/v1 that needs a user says so.
    for (path, item) in paths {
        for (verb, op) in item.as_object().unwrap() {
            if path.starts_with("/api/v1/auth/login")
                || path.starts_with("/api/v1/auth/refresh")
                || !path.starts_with("/api/v1")
            {
                continue;
            }
            assert!(op["security"].is_array(), "{verb} {path} lacks security");
        }
    }
}

/// The answers the shared plumbing gives are documented on every operation they can reach,
/// as `ErrorBody` JSON; and the code images say they may be SVG.
#[test]
fn every_operation_documents_what_the_plumbing_answers() {
    let doc: serde_json::Value =
        serde_json::from_str(&linli::openapi::document_json().unwrap()).unwrap();
    let error_json = |op: &serde_json::Value, status: &str, what: &str| {
        let schema = &op["responses"][status]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(schema, "#/components/schemas/ErrorBody", "{what}: {status}");
    };
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (verb, op) in item.as_object().unwrap() {
            operations += 1;
            let what = format!("{verb} {path}");
            if op["security"].to_string().contains("bearer") {
                error_json(op, "401", &what);
            }
            if op["parameters"].as_array().is_some_and(|p| !p.is_empty()) {
                error_json(op, "400", &what);
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" && p["schema"]["type"] == "integer" {
                    assert_eq!(p["schema"]["minimum"], 1, "{what}: {}", p["name"]);
                }
            }
            if op["requestBody"]["content"].is_object() {
                for status in ["400", "413", "415", "422"] {
                    error_json(op, status, &what);
                }
            }
            if path.starts_with("/api/v1") || path.starts_with("/files") {
                error_json(op, "503", &what);
                let retry = &op["responses"]["503"]["headers"]["Retry-After"];
                assert!(retry.is_object(), "{what}: 503 without Retry-After");
            }
        }
    }
    assert!(operations > 90, "{operations} operations");
    for path in [
        "/api/v1/codes/{scene}/image",
        "/api/v1/wishes/{wish_id}/share-code/image",
    ] {
        let types = &doc["paths"][path]["get"]["responses"]["200"]["content"];
        for t in ["image/png", "image/jpeg", "image/svg+xml"] {
            assert!(types[t].is_object(), "{path} lacks {t}");
        }
    }
    let file = &doc["paths"]["/files/{upload_id}"]["get"]["responses"];
    assert!(file["400"].is_object() && file["200"]["content"]["image/webp"].is_object());
}
