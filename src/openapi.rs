//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations as they are
//! registered, plus the answers every operation of a kind can give (see [`CommonResponses`]).
//! The committed copy lives in `openapi/openapi.json`; a test fails when it is stale.

use actix_web::App;
use utoipa::Number;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{Schema, SchemaType};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, ObjectBuilder, Ref, RefOr, Response, Type};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{ErrorBody, ErrorCode};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Linli 邻里 API",
        description = "The server behind the Linli WeChat mini-program: 微心愿 wishes, volunteers, \
                       金豆 points and 居民议事 voting for urban communities.\n\n\
                       Every error is `{\"code\": \"...\", \"message\": \"...\"}`; the `code` values \
                       are listed in the `ErrorCode` schema."
    ),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody, ErrorCode))
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as the server serves it, made from the routes it runs: `crate::api::configure`.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::api::configure)
        .split_for_parts();
    let mut api = api;
    CommonResponses.modify(&mut api);
    api
}

/// The document as committed: pretty JSON with a trailing newline.
pub fn document_json() -> anyhow::Result<String> {
    Ok(document().to_pretty_json()? + "\n")
}

/// The answers that come from the plumbing every handler shares rather than from the handler:
/// the bearer guard (401), the extractors (400 for a parameter, 400/413/415/422 for a body),
/// the database and cache (503); and that integer path segments are ids from 1. Derived here
/// from what each operation declares, so a new handler is documented the moment it declares
/// its security, parameters and body.
pub struct CommonResponses;

/// The error codes one status stands for, added to the operation's own description of it.
struct Common {
    status: &'static str,
    codes: &'static [&'static str],
    retry_after: bool,
}

impl Common {
    const fn new(status: &'static str, codes: &'static [&'static str]) -> Self {
        Self {
            status,
            codes,
            retry_after: false,
        }
    }
}

const UNAUTHORIZED: Common = Common::new(
    "401",
    &["UNAUTHENTICATED", "TOKEN_INVALID", "TOKEN_EXPIRED"],
);
const BAD_PARAMETER: Common = Common::new("400", &["INVALID_PARAMETER"]);
const NOT_FOUND: Common = Common::new("404", &["NOT_FOUND"]);
const MALFORMED_JSON: Common = Common::new("400", &["MALFORMED_JSON"]);
const MALFORMED_UPLOAD: Common = Common::new("400", &["MALFORMED_UPLOAD"]);
const TOO_LARGE: Common = Common::new("413", &["PAYLOAD_TOO_LARGE"]);
const NOT_JSON: Common = Common::new("415", &["UNSUPPORTED_MEDIA_TYPE"]);
const INVALID_BODY: Common = Common::new("422", &["VALIDATION_FAILED"]);
const UNAVAILABLE: Common = Common {
    status: "503",
    codes: &["SERVICE_UNAVAILABLE"],
    retry_after: true,
};

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // Liveness and metrics answer from memory; everything else reads the database or
            // the cache, which can be down.
            let stateful = !matches!(path.as_str(), "/healthz" | "/metrics");
            for operation in operations(item) {
                positive_ids(operation);
                text_parameters(operation);
                for common in applicable(operation, stateful) {
                    add(operation, common);
                }
                if let Some(RefOr::T(limited)) = operation.responses.responses.get_mut("429") {
                    retry_after(limited);
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.options,
        &mut item.head,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

fn applicable(operation: &Operation, stateful: bool) -> Vec<&'static Common> {
    let mut found = Vec::new();
    if needs_bearer(operation) {
        found.push(&UNAUTHORIZED);
    }
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let located = |place: ParameterIn| {
        parameters
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    if !parameters.is_empty() {
        found.push(&BAD_PARAMETER);
    }
    // A path segment that does not parse (a non-numeric id) names nothing: 404.
    if located(ParameterIn::Path) {
        found.push(&NOT_FOUND);
    }
    if let Some(RefOr::T(body)) = &operation.request_body {
        if body.content.contains_key("application/json") {
            found.extend([&MALFORMED_JSON, &TOO_LARGE, &NOT_JSON, &INVALID_BODY]);
        }
        if body.content.contains_key("multipart/form-data") {
            found.extend([&MALFORMED_UPLOAD, &TOO_LARGE, &NOT_JSON, &INVALID_BODY]);
        }
    }
    if stateful {
        found.push(&UNAVAILABLE);
    }
    found
}

/// Integer path segments are row ids, which start at 1; any other number names nothing (404).
fn positive_ids(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        let RefOr::T(parameter) = parameter else {
            continue;
        };
        if parameter.parameter_in != ParameterIn::Path {
            continue;
        }
        if let Some(RefOr::T(Schema::Object(schema))) = &mut parameter.schema
            && schema.schema_type == SchemaType::Type(Type::Integer)
        {
            schema.minimum.get_or_insert(Number::Int(1));
        }
    }
}

/// What the server takes in a text parameter, said in its schema: no NUL anywhere in a query
/// (the middleware refuses one, as PostgreSQL cannot store it), the `Idempotency-Key`'s
/// visible characters, and `from`/`to` as a date or an RFC 3339 time.
fn text_parameters(operation: &mut Operation) {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, SchemaFormat};
    let is_text = |t: &SchemaType| match t {
        SchemaType::Type(Type::String) => true,
        SchemaType::Array(types) => types.contains(&Type::String),
        _ => false,
    };
    for parameter in operation.parameters.iter_mut().flatten() {
        let RefOr::T(parameter) = parameter else {
            continue;
        };
        let query = parameter.parameter_in == ParameterIn::Query;
        let key = parameter.name == "Idempotency-Key";
        if !(query || key) {
            continue;
        }
        let Some(RefOr::T(Schema::Object(schema))) = &mut parameter.schema else {
            continue;
        };
        if !is_text(&schema.schema_type)
            || schema.pattern.is_some()
            || schema.format.is_some()
            || schema.enum_values.is_some()
        {
            continue;
        }
        if key {
            schema.pattern = Some(crate::http::idempotency::PATTERN.to_owned());
        } else if matches!(parameter.name.as_str(), "from" | "to") {
            let format = |f| {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(f)))
                    .build()
            };
            parameter.schema = Some(RefOr::T(Schema::AnyOf(
                AnyOfBuilder::new()
                    .item(format(KnownFormat::Date))
                    .item(format(KnownFormat::DateTime))
                    .build(),
            )));
        } else {
            schema.pattern = Some("^[^\\u0000]*$".to_owned());
        }
    }
}

fn needs_bearer(operation: &Operation) -> bool {
    operation.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement)
            .ok()
            .is_some_and(|v| v.get("bearer").is_some())
    })
}

/// Adds the status with an `ErrorBody` if the handler did not declare it, and names the codes
/// in its description either way.
fn add(operation: &mut Operation, common: &Common) {
    let response = operation
        .responses
        .responses
        .entry(common.status.to_owned())
        .or_insert_with(|| RefOr::T(error_response()));
    let RefOr::T(response) = response else {
        return;
    };
    for code in common.codes {
        if !response.description.split([',', ' ']).any(|c| c == *code) {
            if !response.description.is_empty() {
                response.description.push_str(", ");
            }
            response.description.push_str(code);
        }
    }
    if !response.content.contains_key("application/json") {
        response
            .content
            .insert("application/json".to_owned(), error_content().into());
    }
    if common.retry_after {
        retry_after(response);
    }
}

fn retry_after(response: &mut Response) {
    response
        .headers
        .entry("Retry-After".to_owned())
        .or_insert_with(|| {
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                .description(Some("Seconds to wait before retrying"))
                .build()
                .into()
        });
}

fn error_content() -> Content {
    Content::new(Some(Ref::from_schema_name("ErrorBody")))
}

fn error_response() -> Response {
    let mut response = Response::new("");
    response
        .content
        .insert("application/json".to_owned(), error_content().into());
    response
}
