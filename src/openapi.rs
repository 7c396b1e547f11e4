//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations as they are
//! registered. The committed copy lives in `openapi/openapi.json`; a test fails when it is stale.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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

/// The document as the server serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::startup::system_routes)
        .service(utoipa_actix_web::scope("/api/v1").configure(crate::startup::api_routes))
        .split_for_parts();
    api
}

/// The document as committed: pretty JSON with a trailing newline.
pub fn document_json() -> anyhow::Result<String> {
    Ok(document().to_pretty_json()? + "\n")
}
