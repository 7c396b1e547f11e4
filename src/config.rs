//! Layered configuration: embedded `config/default.toml`, then the embedded profile file, then
//! `LINLI__SECTION__KEY` environment variables. Secrets are read only from the environment,
//! held as `SecretString` (whose `Debug` prints no value) and read with `expose_secret()` only
//! where they are used, so printing the settings cannot leak them.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const DEVELOPMENT_TOML: &str = include_str!("../config/development.toml");
const TEST_TOML: &str = include_str!("../config/test.toml");
const PRODUCTION_TOML: &str = include_str!("../config/production.toml");

/// Development stand-ins for the secrets, so `cargo run` works with nothing set. Production
/// refuses to start with any of them.
pub const DEV_JWT_SECRET: &str = "linli-development-jwt-secret-not-for-production";
pub const DEV_WECHAT_SECRET: &str = "linli-development-wechat-secret";
/// 32 bytes, base64.
pub const DEV_DATA_KEY: &str = "bGlubGktZGV2ZWxvcG1lbnQtZGF0YS1rZXktMzJieXQ=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Development,
    Test,
    Production,
}

impl Profile {
    pub fn parse(name: &str) -> Result<Self, ConfigError> {
        match name {
            "development" | "dev" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" | "prod" => Ok(Self::Production),
            other => Err(ConfigError::Invalid(vec![format!(
                "LINLI_PROFILE={other} is not a profile; use development, test or production"
            )])),
        }
    }

    fn toml(self) -> &'static str {
        match self {
            Self::Development => DEVELOPMENT_TOML,
            Self::Test => TEST_TOML,
            Self::Production => PRODUCTION_TOML,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(skip, default = "default_profile")]
    pub profile: Profile,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub cache: CacheSettings,
    pub auth: AuthSettings,
    pub wechat: WeChatSettings,
    #[serde(default)]
    pub crypto: CryptoSettings,
    pub log: LogSettings,
    pub storage: StorageSettings,
    pub codes: CodesSettings,
    pub notifications: NotificationSettings,
    pub points: PointsSettings,
    pub wishes: WishSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WishSettings {
    /// The categories residents choose from.
    pub categories: Vec<String>,
    /// The most a micro-wish may cost, in yuan.
    pub max_cost_yuan: i64,
    /// How far ahead a wish's date may lie.
    pub max_due_days: i64,
    /// Days a claimer has to fulfil a wish before it goes back to the wall.
    pub claim_days: i64,
    /// The job that releases overdue claims.
    pub release_job_enabled: bool,
    pub release_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PointsSettings {
    pub pay_code_ttl_secs: i64,
    pub reversal_window_minutes: i64,
    pub expiry_job_enabled: bool,
    pub expiry_interval_secs: u64,
    pub expiry_notice_days: i64,
    pub ranking_refresh_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Local,
    S3,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StorageSettings {
    pub backend: StorageBackend,
    pub local_dir: String,
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_allow_http: bool,
    /// Whether `local_dir` is one disk shared by every instance (NFS and the like).
    pub local_is_shared: bool,
    #[serde(default)]
    pub s3_access_key_id: Option<SecretString>,
    #[serde(default)]
    pub s3_secret_access_key: Option<SecretString>,
    pub max_upload_bytes: usize,
    pub url_ttl_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CodesSettings {
    pub join_community_page: String,
    pub merchant_counter_page: String,
    pub wish_page: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotificationSettings {
    pub worker_enabled: bool,
    pub poll_interval_ms: u64,
    pub max_attempts: i32,
    #[serde(default)]
    pub events: std::collections::BTreeMap<String, EventTemplate>,
}

/// How one kind of event becomes a subscription message.
#[derive(Debug, Clone, Deserialize)]
pub struct EventTemplate {
    #[serde(default)]
    pub template_id: String,
    #[serde(default)]
    pub page: Option<String>,
    /// Template key (thing1, time2, …) → the event field that fills it.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
}

fn default_profile() -> Profile {
    Profile::Development
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub json_limit_bytes: usize,
    pub shutdown_timeout_secs: u64,
    pub workers: usize,
    pub trust_forwarded_headers: bool,
    /// How long read requests may use in-process copies of users, standings and wall pages.
    pub read_cache_ms: u64,
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub migrate_on_start: bool,
    /// The longest a request waits for a database connection (including opening one) before
    /// it is answered 503: a database that is down must not hold requests for long.
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    Memory,
    Redis,
}

#[derive(Clone, Deserialize)]
pub struct CacheSettings {
    pub backend: CacheBackend,
    pub redis_url: String,
    pub key_prefix: String,
    pub timeout_ms: u64,
}

// The URLs may carry a password (postgres://user:pass@host, redis://:pass@host): printed
// settings show them without it.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .finish()
    }
}

impl std::fmt::Debug for CacheSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheSettings")
            .field("backend", &self.backend)
            .field("redis_url", &redact_url(&self.redis_url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// A connection URL with its user information (name and password) replaced by `***`, fit for
/// logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_days: i64,
    pub login_per_ip_per_minute: i64,
    pub login_per_code: i64,
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WeChatSettings {
    pub base_url: String,
    pub appid: String,
    #[serde(default)]
    pub app_secret: Option<SecretString>,
    pub dev_login: bool,
    pub timeout_ms: u64,
    pub busy_retries: u32,
    pub env_version: String,
    pub miniprogram_state: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CryptoSettings {
    /// Base64 of 32 random bytes: the AES-256-GCM key for personal data and the HMAC key for
    /// look-up hashes.
    #[serde(default)]
    pub data_key: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub filter: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("配置无法读取 (configuration could not be read): {0}")]
    Load(#[from] config::ConfigError),
    #[error("配置不安全或不完整 (unsafe or incomplete configuration):\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Keys that may only come from the environment.
const SECRET_KEYS: [(&str, &str); 5] = [
    ("auth.jwt_secret", "LINLI__AUTH__JWT_SECRET"),
    ("wechat.app_secret", "LINLI__WECHAT__APP_SECRET"),
    ("crypto.data_key", "LINLI__CRYPTO__DATA_KEY"),
    (
        "storage.s3_access_key_id",
        "LINLI__STORAGE__S3_ACCESS_KEY_ID",
    ),
    (
        "storage.s3_secret_access_key",
        "LINLI__STORAGE__S3_SECRET_ACCESS_KEY",
    ),
];

impl Settings {
    /// Loads the settings for the profile named by `LINLI_PROFILE` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let profile = vars
            .iter()
            .find(|(k, _)| k == "LINLI_PROFILE")
            .map(|(_, v)| v.as_str())
            .unwrap_or("development");
        Self::load(Profile::parse(profile)?, vars)
    }

    /// Loads the settings for `profile` with the given environment variables, then checks them.
    pub fn load(
        profile: Profile,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("LINLI__"))
            .collect();
        let raw = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from_str(
                profile.toml(),
                config::FileFormat::Toml,
            ))
            .build()?;
        // Secrets must not be committed in a file: refuse if one appears there.
        let mut problems = Vec::new();
        for (key, var) in SECRET_KEYS {
            if raw.get_string(key).is_ok() {
                problems.push(format!(
                    "{key} is set in a configuration file; secrets come only from {var}"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        let built = config::Config::builder()
            .add_source(raw)
            .add_source(
                config::Environment::with_prefix("LINLI")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(env)),
            )
            .build()?;
        let mut settings: Settings = built.try_deserialize()?;
        settings.profile = profile;
        settings.fill_development_secrets();
        settings.check()?;
        Ok(settings)
    }

    fn fill_development_secrets(&mut self) {
        if self.profile == Profile::Production {
            return;
        }
        self.auth
            .jwt_secret
            .get_or_insert_with(|| DEV_JWT_SECRET.into());
        self.wechat
            .app_secret
            .get_or_insert_with(|| DEV_WECHAT_SECRET.into());
        self.crypto
            .data_key
            .get_or_insert_with(|| DEV_DATA_KEY.into());
    }

    /// Refuses settings that would be unsafe; in production also development conveniences.
    fn check(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.auth.access_ttl_secs <= 0 || self.auth.access_ttl_secs > 7200 {
            problems.push("auth.access_ttl_secs must be between 1 and 7200 (two hours)".into());
        }
        if self.storage.backend == StorageBackend::S3
            && (self.storage.s3_bucket.trim().is_empty()
                || self.storage.s3_access_key_id.is_none()
                || self.storage.s3_secret_access_key.is_none())
        {
            problems.push(
                "storage.backend is s3: set LINLI__STORAGE__S3_BUCKET, LINLI__STORAGE__S3_ACCESS_KEY_ID and LINLI__STORAGE__S3_SECRET_ACCESS_KEY".into(),
            );
        }
        if self.wechat.busy_retries > 5 {
            problems.push("wechat.busy_retries must be at most 5".into());
        }
        if self.auth.refresh_ttl_days <= 0 {
            problems.push("auth.refresh_ttl_days must be positive".into());
        }
        if let Some(Err(e)) = self
            .crypto
            .data_key
            .as_ref()
            .map(|key| crate::crypto::decode_key(key.expose_secret()))
        {
            problems.push(format!(
                "LINLI__CRYPTO__DATA_KEY {e} (e.g. `openssl rand -base64 32`)"
            ));
        }
        if self.profile == Profile::Production {
            if self.wechat.dev_login {
                problems.push("wechat.dev_login is on: set LINLI__WECHAT__DEV_LOGIN=false".into());
            }
            if self.database.url.trim().is_empty() {
                problems.push(
                    "no database: set LINLI__DATABASE__URL (postgres://user:pass@host/db)".into(),
                );
            }
            if self.database.url.trim().starts_with("sqlite") {
                problems.push(
                    "production needs PostgreSQL: set LINLI__DATABASE__URL=postgres://…".into(),
                );
            }
            if self.cache.backend == CacheBackend::Memory {
                problems.push(
                    "production needs Redis (rate limits and the WeChat token are shared between processes): set LINLI__CACHE__BACKEND=redis".into(),
                );
            }
            if self.storage.backend == StorageBackend::Local && !self.storage.local_is_shared {
                problems.push(
                    "local file storage is per machine: set LINLI__STORAGE__BACKEND=s3, or LINLI__STORAGE__LOCAL_IS_SHARED=true if storage.local_dir is a disk every instance shares".into(),
                );
            }
            if self.wechat.appid.trim().is_empty() {
                problems.push("no WeChat app id: set LINLI__WECHAT__APPID".into());
            }
            let secrets = [
                (
                    "LINLI__AUTH__JWT_SECRET",
                    &self.auth.jwt_secret,
                    DEV_JWT_SECRET,
                ),
                (
                    "LINLI__WECHAT__APP_SECRET",
                    &self.wechat.app_secret,
                    DEV_WECHAT_SECRET,
                ),
                (
                    "LINLI__CRYPTO__DATA_KEY",
                    &self.crypto.data_key,
                    DEV_DATA_KEY,
                ),
            ];
            for (var, value, dev) in secrets {
                match value.as_ref().map(|v| v.expose_secret().trim()) {
                    None | Some("") => problems.push(format!("secret missing: set {var}")),
                    Some(v) if v == dev => problems.push(format!(
                        "{var} is the development default; set a real secret"
                    )),
                    Some(_) => {}
                }
            }
            if let Some(secret) = &self.auth.jwt_secret
                && secret.expose_secret().len() < 32
                && secret.expose_secret() != DEV_JWT_SECRET
            {
                problems.push("LINLI__AUTH__JWT_SECRET must be at least 32 characters".into());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_url_user_information() {
        assert_eq!(redact_url("redis://:pw@host:6379"), "redis://***@host:6379");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            redact_url("postgres://linli:p@ss@db:5432/linli"),
            "postgres://***@db:5432/linli"
        );
    }

    /// Printed settings (a `{:?}` in a log line or a panic) show no secret: neither those
    /// set in the environment nor the development stand-ins, nor a password in a URL.
    #[test]
    fn debug_output_holds_no_secret() {
        let secrets = [
            (
                "LINLI__AUTH__JWT_SECRET",
                "jwt-secret-0123456789abcdef-0123456789",
            ),
            ("LINLI__WECHAT__APP_SECRET", "wechat-app-secret-value"),
            (
                "LINLI__CRYPTO__DATA_KEY",
                "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJEjQ=",
            ),
            ("LINLI__STORAGE__S3_ACCESS_KEY_ID", "AKIDEXAMPLEKEYID"),
            (
                "LINLI__STORAGE__S3_SECRET_ACCESS_KEY",
                "s3-secret-access-key",
            ),
        ];
        let passwords = [
            (
                "LINLI__DATABASE__URL",
                "postgres://linli:db-password@db/linli",
            ),
            (
                "LINLI__CACHE__REDIS_URL",
                "redis://:redis-password@cache:6379",
            ),
        ];
        let mut env: Vec<(String, String)> = [
            ("LINLI__WECHAT__APPID", "wx1234"),
            ("LINLI__CACHE__BACKEND", "redis"),
            ("LINLI__STORAGE__BACKEND", "s3"),
            ("LINLI__STORAGE__S3_BUCKET", "linli-photos"),
        ]
        .iter()
        .chain(&secrets)
        .chain(&passwords)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let production = Settings::load(Profile::Production, env.clone()).unwrap();
        // The values really were read, so their absence below is the redaction's doing.
        assert_eq!(
            production
                .wechat
                .app_secret
                .as_ref()
                .map(ExposeSecret::expose_secret),
            Some("wechat-app-secret-value")
        );
        let printed = format!("{production:?}");
        for (var, value) in secrets {
            assert!(!printed.contains(value), "{var} printed: {printed}");
        }
        for hidden in ["db-password", "redis-password"] {
            assert!(!printed.contains(hidden), "{hidden} printed: {printed}");
        }
        assert!(printed.contains("postgres://***@db/linli"), "{printed}");

        env.clear();
        let development = Settings::load(Profile::Development, env).unwrap();
        let printed = format!("{development:?}");
        for dev in [DEV_JWT_SECRET, DEV_WECHAT_SECRET, DEV_DATA_KEY] {
            assert!(!printed.contains(dev), "{dev} printed: {printed}");
        }
    }
}
