//! Building and running the application: connect, migrate, bind, serve. Tests start the same
//! application on port 0 and read the real port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::tokens::TokenKeys;
use crate::cache::Cache;
use crate::config::Settings;
use crate::crypto::{Crypto, decode_key};
use crate::http::body::JsonLimit;
use crate::reads::Reads;
use crate::state::AppState;
use crate::wechat::WeChat;
use crate::{auth, communities, db, http, users};
use utoipa_actix_web::scope;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn system_routes(cfg: &mut ServiceConfig) {
    cfg.service(http::health::healthz)
        .service(http::health::readyz)
        .service(http::health::metrics)
        .service(crate::uploads::routes::file);
}

/// Everything under `/api/v1`, one scope per first path segment: actix tries routes in order,
/// matching each pattern in turn, so scopes keep that short and the most-read come first.
pub fn api_routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/communities")
            .service(crate::wishes::routes::wall)
            .service(communities::routes::get_community)
            .service(communities::routes::list_grids)
            .service(communities::routes::create_grid)
            .service(communities::routes::list_buildings)
            .service(communities::routes::create_building)
            .service(communities::routes::list_households)
            .service(communities::routes::create_household)
            .service(communities::routes::join)
            .service(communities::routes::list_memberships)
            .service(communities::routes::approve)
            .service(communities::routes::reject)
            .service(communities::routes::set_household)
            .service(communities::routes::list_grants)
            .service(crate::moderation::routes::community_queue)
            .service(crate::codes::routes::create)
            .service(crate::codes::routes::list)
            .service(crate::uploads::routes::create)
            .service(crate::notifications::routes::list)
            .service(crate::points::routes::my_beans)
            .service(crate::points::routes::my_history)
            .service(crate::points::routes::create_adjustment)
            .service(crate::points::routes::list_adjustments)
            .service(crate::points::routes::list_rules)
            .service(crate::points::routes::set_rule)
            .service(crate::points::routes::get_ranking)
            .service(crate::points::routes::rebuild_ranking)
            .service(crate::merchants::routes::create_merchant)
            .service(crate::merchants::routes::list_merchants)
            .service(crate::merchants::routes::community_offers)
            .service(crate::wishes::routes::post_wish)
            .service(crate::wishes::routes::community_figures)
            .service(crate::wishes::routes::attention)
            .service(crate::wishes::routes::export)
            .service(crate::wishes::routes::get_rules)
            .service(crate::wishes::routes::set_rules)
            .service(crate::audit::routes::community_audit)
            .service(crate::audit::routes::community_audit_export),
    );
    cfg.service(
        scope("/merchant")
            .service(crate::merchants::routes::redeem)
            .service(crate::merchants::routes::join_staff),
    );
    cfg.service(
        scope("/auth")
            .service(auth::routes::login)
            .service(auth::routes::refresh)
            .service(auth::routes::logout),
    );
    cfg.service(
        scope("/me")
            .service(users::routes::get_me)
            .service(users::routes::update_me)
            .service(users::routes::bind_phone)
            .service(users::routes::export_me)
            .service(users::routes::delete_me)
            .service(crate::merchants::routes::pay_code)
            .service(crate::merchants::routes::pay_at_counter)
            .service(crate::wishes::routes::my_wishes)
            .service(crate::wishes::routes::my_claims),
    );
    cfg.service(
        scope("/districts")
            .service(communities::routes::list_districts)
            .service(communities::routes::create_district)
            .service(communities::routes::list_streets)
            .service(communities::routes::create_street),
    );
    cfg.service(
        scope("/streets")
            .service(communities::routes::list_communities)
            .service(communities::routes::create_community)
            .service(crate::merchants::routes::create_street_merchant)
            .service(crate::wishes::routes::street_wall)
            .service(crate::wishes::routes::create_unit)
            .service(crate::wishes::routes::street_figures)
            .service(crate::audit::routes::street_audit)
            .service(crate::audit::routes::street_audit_export),
    );
    cfg.service(
        scope("/role-grants")
            .service(communities::routes::create_grant)
            .service(communities::routes::delete_grant),
    );
    cfg.service(
        scope("/moderation")
            .service(crate::moderation::routes::platform_queue)
            .service(crate::moderation::routes::approve)
            .service(crate::moderation::routes::reject),
    );
    cfg.service(
        scope("/codes")
            .service(crate::codes::routes::resolve)
            .service(crate::codes::routes::revoke)
            .service(crate::codes::routes::image),
    );
    cfg.service(scope("/uploads").service(crate::uploads::routes::show));
    cfg.service(
        scope("/merchants")
            .service(crate::merchants::routes::set_status)
            .service(crate::merchants::routes::invite)
            .service(crate::merchants::routes::create_offer)
            .service(crate::merchants::routes::merchant_offers)
            .service(crate::merchants::routes::create_counter_code)
            .service(crate::merchants::routes::list_redemptions)
            .service(crate::merchants::routes::get_statement)
            .service(crate::merchants::routes::settle)
            .service(crate::merchants::staff_routes::list_staff)
            .service(crate::merchants::staff_routes::remove_staff)
            .service(crate::uploads::routes::create_for_merchant),
    );
    cfg.service(scope("/offers").service(crate::merchants::routes::update_offer));
    cfg.service(
        scope("/redemptions")
            .service(crate::merchants::routes::get_receipt)
            .service(crate::merchants::routes::reverse),
    );
    cfg.service(
        scope("/wishes")
            .service(crate::wishes::routes::get_wish)
            .service(crate::wishes::routes::edit_wish)
            .service(crate::wishes::routes::withdraw)
            .service(crate::wishes::routes::approve)
            .service(crate::wishes::routes::reject)
            .service(crate::wishes::routes::claim)
            .service(crate::wishes::routes::release)
            .service(crate::wishes::routes::fulfil)
            .service(crate::wishes::routes::confirm)
            .service(crate::wishes::routes::dispute)
            .service(crate::wishes::routes::resolve)
            .service(crate::wishes::routes::thank)
            .service(crate::wishes::routes::share_code)
            .service(crate::wishes::routes::share_image),
    );
    cfg.service(
        scope("/pair-units")
            .service(crate::wishes::routes::unit_wall)
            .service(crate::wishes::routes::add_unit_member)
            .service(crate::wishes::routes::remove_unit_member)
            .service(crate::wishes::routes::unit_report),
    );
}

/// Builds the shared state: database (migrated if configured), cache, WeChat client, keys.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    let db = db::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        db::migrate(&db).await?;
    }
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let cache = Cache::connect(&settings.cache)
        .await?
        .observed_by(metrics.clone());
    let data_key = settings.crypto.data_key.as_ref();
    let key = decode_key(
        data_key
            .map(ExposeSecret::expose_secret)
            .unwrap_or_default(),
    )
    .map_err(|_| anyhow::anyhow!("LINLI__CRYPTO__DATA_KEY must be base64 of 32 bytes"))?;
    let wechat = WeChat::new(settings.wechat.clone(), cache.clone())?.observed_by(metrics.clone());
    let storage = crate::storage::Storage::open(&settings.storage)?;
    Ok(AppState {
        db,
        cache,
        wechat,
        storage,
        crypto: Crypto::new(key),
        tokens: TokenKeys::new(
            &settings.auth,
            (settings.auth.jwt_secret.as_ref())
                .map(ExposeSecret::expose_secret)
                .unwrap_or_default(),
        ),
        reads: Arc::new(Reads::new(std::time::Duration::from_millis(
            settings.server.read_cache_ms,
        ))),
        metrics,
        accounts: Arc::default(),
        settings: Arc::new(settings),
    })
}

pub struct Application {
    server: Server,
    port: u16,
    pub state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(settings).await?;
        Self::with_state(state)
    }

    pub fn with_state(state: AppState) -> anyhow::Result<Self> {
        let server_settings = &state.settings.server;
        let address = format!("{}:{}", server_settings.host, server_settings.port);
        let listener = TcpListener::bind(&address)
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        let port = listener.local_addr()?.port();
        let api = Arc::new(crate::openapi::document());
        let known_paths = web::Data::new(http::methods::KnownPaths::from_document(&api));
        let limit = server_settings.json_limit_bytes;
        let data = web::Data::new(state.clone());
        let mut server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .map(|app| app.wrap(from_fn(http::middleware::request_context)))
                .app_data(data.clone())
                .app_data(known_paths.clone())
                .app_data(JsonLimit(limit))
                .app_data(web::PayloadConfig::new(limit))
                .app_data(http::path_config())
                .app_data(http::query_config())
                .configure(system_routes)
                .service(utoipa_actix_web::scope("/api/v1").configure(api_routes))
                .split_for_parts();
            // Swagger UI's assets are compiled in (the `vendored` feature): no internet needed.
            app.service(
                SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", (*api).clone()),
            )
            .default_service(web::to(http::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(server_settings.shutdown_timeout_secs);
        if server_settings.workers > 0 {
            server = server.workers(server_settings.workers);
        }
        let server = server.run();
        tracing::info!(
            "Linli listening on http://{}:{port} — database: {}, cache: {}, files: {}, WeChat: {}, API viewer: http://{}:{port}/docs/",
            state.settings.server.host,
            db::describe_url(&state.settings.database.url),
            state.cache.describe(),
            state.storage.describe(),
            if state.settings.wechat.dev_login {
                "development mode (dev:<name> logins, local content check and QR codes)"
            } else {
                "live"
            },
            state.settings.server.host,
        );
        Ok(Self {
            server,
            port,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT; in-flight requests then get `shutdown_timeout_secs` to
    /// end, and the background jobs finish their current pass.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let jobs = crate::jobs::start(&self.state);
        let served = self.server.await;
        jobs.stop().await;
        served
    }
}
