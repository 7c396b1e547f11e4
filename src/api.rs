//! Every route the server answers, put together from the capabilities' own lists. Each
//! `src/<capability>/routes.rs` has one function per first path segment it serves
//! (`communities_scope`, `me_scope`, …) that adds its handlers to that segment's scope; this
//! module only decides the scopes and their order and never names a handler. `startup` serves
//! [`configure`] and `openapi::document` documents it, so the document is the server's own
//! route table.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    audit, auth, codes, communities, http, merchants, moderation, notifications, points, uploads,
    users, wishes,
};

/// The whole application: the system and file routes at the root, the API under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    http::health::root(cfg);
    uploads::routes::root(cfg);
    cfg.service(scope("/api/v1").configure(api_v1));
}

/// Everything under `/api/v1`, exactly one scope per first path segment: actix picks a scope by
/// prefix and never falls through to a later one, so a second `/communities` scope would never
/// be reached. Inside a scope actix tries the routes in order, one pattern at a time, so the
/// scopes keep each list short and the most-read routes come first.
fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/communities")
            // The wish wall is the most-read route of all.
            .configure(wishes::routes::communities_scope)
            .configure(communities::routes::communities_scope)
            .configure(moderation::routes::communities_scope)
            .configure(codes::routes::communities_scope)
            .configure(uploads::routes::communities_scope)
            .configure(notifications::routes::communities_scope)
            .configure(points::routes::communities_scope)
            .configure(merchants::routes::communities_scope)
            .configure(audit::routes::communities_scope),
    );
    cfg.service(scope("/merchant").configure(merchants::routes::merchant_scope));
    cfg.service(scope("/auth").configure(auth::routes::auth_scope));
    cfg.service(
        scope("/me")
            .configure(users::routes::me_scope)
            .configure(merchants::routes::me_scope)
            .configure(wishes::routes::me_scope),
    );
    cfg.service(scope("/districts").configure(communities::routes::districts_scope));
    cfg.service(
        scope("/streets")
            .configure(communities::routes::streets_scope)
            .configure(merchants::routes::streets_scope)
            .configure(wishes::routes::streets_scope)
            .configure(audit::routes::streets_scope),
    );
    cfg.service(scope("/role-grants").configure(communities::routes::role_grants_scope));
    cfg.service(scope("/moderation").configure(moderation::routes::moderation_scope));
    cfg.service(scope("/codes").configure(codes::routes::codes_scope));
    cfg.service(scope("/uploads").configure(uploads::routes::uploads_scope));
    cfg.service(
        scope("/merchants")
            .configure(merchants::routes::merchants_scope)
            .configure(uploads::routes::merchants_scope),
    );
    cfg.service(scope("/offers").configure(merchants::routes::offers_scope));
    cfg.service(scope("/redemptions").configure(merchants::routes::redemptions_scope));
    cfg.service(scope("/wishes").configure(wishes::routes::wishes_scope));
    cfg.service(scope("/pair-units").configure(wishes::routes::pair_units_scope));
}
