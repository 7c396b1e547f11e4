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

/// Every operation has its own operationId: a client generator names its functions after them,
/// so two handlers called `approve` would collide.
#[test]
fn operation_ids_are_unique() {
    let doc = linli::openapi::document();
    let mut seen = std::collections::HashMap::new();
    let mut problems = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in operations(item) {
            let here = format!("{method} {path}");
            match &op.operation_id {
                None => problems.push(format!("{here} has no operationId")),
                Some(id) => {
                    if let Some(first) = seen.insert(id.clone(), here.clone()) {
                        problems.push(format!("operationId {id}: {first} and {here}"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One grep of a URL finds its handler: some doc comment under src/ starts with the method and
/// the full path, e.g. `/// POST /api/v1/wishes/{wish_id}/claim — …`.
#[test]
fn every_path_is_named_in_full_by_a_handler_doc() {
    let mut docs = Vec::new();
    rust_files(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut docs,
    );
    let lines: Vec<&str> = docs
        .iter()
        .flat_map(|text| text.lines())
        .map(str::trim_start)
        .filter(|line| line.starts_with("/// "))
        .collect();
    let doc = linli::openapi::document();
    let mut missing = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, _) in operations(item) {
            let named = format!("/// {method} {path}");
            // The path must end there: `/api/v1/me` is not named by a line about `/api/v1/me/phone`.
            let found = lines.iter().any(|line| {
                line.strip_prefix(named.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            });
            if !found {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no handler doc starts with these (write `/// METHOD /full/path — …`):\n{}",
        missing.join("\n")
    );
}

fn operations(
    item: &utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &utoipa::openapi::path::Operation)> {
    [
        ("GET", &item.get),
        ("PUT", &item.put),
        ("POST", &item.post),
        ("DELETE", &item.delete),
        ("OPTIONS", &item.options),
        ("HEAD", &item.head),
        ("PATCH", &item.patch),
        ("TRACE", &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_ref().map(|op| (method, op)))
}

fn rust_files(dir: &std::path::Path, into: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(std::fs::read_to_string(&path).unwrap());
        }
    }
}
