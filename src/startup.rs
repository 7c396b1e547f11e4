//! Building and running the application: connect, migrate, bind, serve. Tests start the same
//! application on port 0 and read the real port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::tokens::TokenKeys;
use crate::cache::Cache;
use crate::config::Settings;
use crate::crypto::{Crypto, decode_key};
use crate::http::body::JsonLimit;
use crate::reads::Reads;
use crate::state::AppState;
use crate::wechat::WeChat;
use crate::{db, http};

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
                .configure(crate::api::configure)
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
