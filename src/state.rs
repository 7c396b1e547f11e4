//! What every handler can reach: the database, the cache, the WeChat client, the data cipher
//! and the token keys. Cloned per worker; everything inside is shared.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::tokens::TokenKeys;
use crate::cache::Cache;
use crate::config::Settings;
use crate::crypto::Crypto;
use crate::reads::Reads;
use crate::storage::Storage;
use crate::wechat::WeChat;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub wechat: WeChat,
    pub crypto: Crypto,
    pub storage: Storage,
    pub tokens: TokenKeys,
    pub settings: Arc<Settings>,
    /// Short-lived copies for read requests (see `reads`).
    pub reads: Arc<Reads>,
    /// What `/metrics` shows (see `metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Ledger accounts known to exist (see `ledger::KnownAccounts`).
    pub accounts: Arc<crate::points::ledger::KnownAccounts>,
}
