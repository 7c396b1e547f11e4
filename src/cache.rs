//! Shared fast state: Redis in production (one cloned `ConnectionManager` for the whole app),
//! or an in-process map for the embedded default and single-process tests. Offers what the
//! capabilities need: values with a TTL, counters with expiry (rate limits) and set-if-absent
//! (one-time nonces, locks). Every key gets the configured prefix.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::{CacheBackend, CacheSettings, redact_url};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

impl From<redis::RedisError> for CacheError {
    fn from(err: redis::RedisError) -> Self {
        CacheError::Unavailable(err.to_string())
    }
}

pub type CacheResult<T> = Result<T, CacheError>;

#[derive(Clone)]
pub struct Cache {
    prefix: Arc<str>,
    backend: Backend,
    /// Where failed calls are counted (`/metrics`), once the application sets it.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

#[derive(Clone)]
enum Backend {
    Memory(Arc<MemoryStore>),
    Redis {
        conn: ConnectionManager,
        timeout: Duration,
    },
}

impl Cache {
    /// Connects to the configured backend. For Redis, a server that cannot be reached at start
    /// is an error: the caller reports it and exits.
    pub async fn connect(settings: &CacheSettings) -> anyhow::Result<Self> {
        let backend = match settings.backend {
            CacheBackend::Memory => Backend::Memory(Arc::new(MemoryStore::default())),
            CacheBackend::Redis => {
                let timeout = Duration::from_millis(settings.timeout_ms.max(1));
                let client = redis::Client::open(settings.redis_url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(2));
                let conn = client
                    .get_connection_manager_with_config(config)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "Redis at {} unreachable: {e}",
                            redact_url(&settings.redis_url)
                        )
                    })?;
                let cache = Backend::Redis { conn, timeout };
                let cache = Cache {
                    prefix: settings.key_prefix.clone().into(),
                    backend: cache,
                    metrics: None,
                };
                cache.ping().await.map_err(|e| {
                    anyhow::anyhow!(
                        "Redis at {} unreachable: {e}",
                        redact_url(&settings.redis_url)
                    )
                })?;
                return Ok(cache);
            }
        };
        Ok(Cache {
            prefix: settings.key_prefix.clone().into(),
            backend,
            metrics: None,
        })
    }

    /// Counts this cache's failed calls in `metrics`.
    pub fn observed_by(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn describe(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "in-process memory",
            Backend::Redis { .. } => "Redis",
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    async fn with_timeout<T>(
        &self,
        timeout: Duration,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> CacheResult<T> {
        let counted = |kind| {
            if let Some(m) = &self.metrics {
                m.cache_error(kind);
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                counted("error");
                Err(e.into())
            }
            Err(_) => {
                counted("timeout");
                Err(CacheError::Unavailable("timed out".into()))
            }
        }
    }

    pub async fn ping(&self) -> CacheResult<()> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let _: String = self
                    .with_timeout(*timeout, redis::cmd("PING").query_async(&mut conn))
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn get(&self, key: &str) -> CacheResult<Option<String>> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => Ok(store.get(&key)),
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                self.with_timeout(*timeout, conn.get(key)).await
            }
        }
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> CacheResult<()> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => {
                store.set(key, value.to_owned(), ttl);
                Ok(())
            }
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let millis = ttl.as_millis().max(1) as u64;
                self.with_timeout(*timeout, conn.pset_ex(key, value, millis))
                    .await
            }
        }
    }

    /// Sets the key only if it is absent; true when this call set it.
    pub async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> CacheResult<bool> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => Ok(store.set_nx(key, value.to_owned(), ttl)),
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let millis = ttl.as_millis().max(1) as u64;
                let reply: Option<String> = self
                    .with_timeout(
                        *timeout,
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(value)
                            .arg("NX")
                            .arg("PX")
                            .arg(millis)
                            .query_async(&mut conn),
                    )
                    .await?;
                Ok(reply.is_some())
            }
        }
    }

    /// Deletes the key only if it still holds `value` (releasing a lock we own).
    pub async fn delete_if_equals(&self, key: &str, value: &str) -> CacheResult<bool> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => Ok(store.delete_if_equals(&key, value)),
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let script = redis::Script::new(
                    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
                );
                let removed: i64 = self
                    .with_timeout(
                        *timeout,
                        script.key(&key).arg(value).invoke_async(&mut conn),
                    )
                    .await?;
                Ok(removed == 1)
            }
        }
    }

    pub async fn delete(&self, key: &str) -> CacheResult<()> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => {
                store.delete(&key);
                Ok(())
            }
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let _: i64 = self.with_timeout(*timeout, conn.del(key)).await?;
                Ok(())
            }
        }
    }

    /// Adds one to a counter that expires `window` after its first increment. Returns the new
    /// count and the seconds left in the window.
    pub async fn incr_window(&self, key: &str, window: Duration) -> CacheResult<(i64, u64)> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => Ok(store.incr_window(key, window)),
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let script = redis::Script::new(
                    "local c = redis.call('INCR', KEYS[1]) \
                     if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
                     local t = redis.call('PTTL', KEYS[1]) \
                     if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) t = tonumber(ARGV[1]) end \
                     return {c, t}",
                );
                let (count, ttl_ms): (i64, i64) = self
                    .with_timeout(
                        *timeout,
                        script
                            .key(&key)
                            .arg(window.as_millis().max(1) as u64)
                            .invoke_async(&mut conn),
                    )
                    .await?;
                Ok((count, (ttl_ms.max(0) as u64).div_ceil(1000)))
            }
        }
    }
}

/// Marks a sorted set as built even when it has no members yet (Redis drops empty sets);
/// it sorts below every real member and is never returned.
const ZSET_SENTINEL: &str = "\u{0}built";

/// One member of a sorted set and its score.
pub type Scored = (String, i64);

impl Cache {
    /// Adds `by` to a member's score, only if the set has been built; false when it has not
    /// (the next reader rebuilds it from the source of truth).
    pub async fn zincr_existing(&self, key: &str, member: &str, by: i64) -> CacheResult<bool> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => Ok(store.zincr_existing(&key, member, by)),
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let script = redis::Script::new(
                    "if redis.call('EXISTS', KEYS[1]) == 1 then \
                     redis.call('ZINCRBY', KEYS[1], ARGV[2], ARGV[1]) return 1 else return 0 end",
                );
                let done: i64 = self
                    .with_timeout(
                        *timeout,
                        script.key(&key).arg(member).arg(by).invoke_async(&mut conn),
                    )
                    .await?;
                Ok(done == 1)
            }
        }
    }

    /// Replaces the whole sorted set in one step and sets its lifetime.
    pub async fn zreplace(&self, key: &str, members: &[Scored], ttl: Duration) -> CacheResult<()> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => {
                store.zreplace(key, members, ttl);
                Ok(())
            }
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                pipe.atomic().del(&key).ignore();
                pipe.zadd(&key, ZSET_SENTINEL, "-inf").ignore();
                for chunk in members.chunks(500) {
                    let items: Vec<(i64, &str)> =
                        chunk.iter().map(|(m, s)| (*s, m.as_str())).collect();
                    pipe.zadd_multiple(&key, &items).ignore();
                }
                pipe.pexpire(&key, ttl.as_millis().max(1) as i64).ignore();
                self.with_timeout(*timeout, pipe.query_async::<()>(&mut conn))
                    .await
            }
        }
    }

    /// The `n` highest-scored members, highest first (ties: greater member first), or None
    /// when the set has not been built.
    pub async fn ztop(&self, key: &str, n: usize) -> CacheResult<Option<Vec<Scored>>> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => Ok(store.ztop(&key, n)),
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let (exists, rows): (bool, Vec<(String, f64)>) = self
                    .with_timeout(
                        *timeout,
                        redis::pipe()
                            .atomic()
                            .exists(&key)
                            .zrevrange_withscores(&key, 0, n as isize)
                            .query_async(&mut conn),
                    )
                    .await?;
                if !exists {
                    return Ok(None);
                }
                Ok(Some(
                    rows.into_iter()
                        .filter(|(m, _)| m != ZSET_SENTINEL)
                        .take(n)
                        .map(|(m, s)| (m, s as i64))
                        .collect(),
                ))
            }
        }
    }

    /// A member's place (0 = first) and score, if the set is built and holds the member.
    pub async fn zplace(&self, key: &str, member: &str) -> CacheResult<Option<(u64, i64)>> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(store) => Ok(store.zplace(&key, member)),
            Backend::Redis { conn, timeout } => {
                let mut conn = conn.clone();
                let (rank, score): (Option<u64>, Option<f64>) = self
                    .with_timeout(
                        *timeout,
                        redis::pipe()
                            .atomic()
                            .zrevrank(&key, member)
                            .zscore(&key, member)
                            .query_async(&mut conn),
                    )
                    .await?;
                Ok(rank.zip(score.map(|s| s as i64)))
            }
        }
    }
}

/// The in-process backend: a map with lazy expiry, swept now and then as it is written.
#[derive(Default)]
struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    map: HashMap<String, (String, Instant)>,
    zsets: HashMap<String, (HashMap<String, i64>, Instant)>,
    writes: u64,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock cannot leave the map half-written, so keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live<'a>(inner: &'a MemoryInner, key: &str, now: Instant) -> Option<&'a (String, Instant)> {
        inner.map.get(key).filter(|(_, exp)| *exp > now)
    }

    fn write(inner: &mut MemoryInner, key: String, value: String, expires: Instant) {
        inner.writes += 1;
        if inner.writes.is_multiple_of(1024) {
            let now = Instant::now();
            inner.map.retain(|_, (_, exp)| *exp > now);
        }
        inner.map.insert(key, (value, expires));
    }

    fn get(&self, key: &str) -> Option<String> {
        let inner = self.lock();
        Self::live(&inner, key, Instant::now()).map(|(v, _)| v.clone())
    }

    fn set(&self, key: String, value: String, ttl: Duration) {
        let mut inner = self.lock();
        Self::write(&mut inner, key, value, Instant::now() + ttl);
    }

    fn set_nx(&self, key: String, value: String, ttl: Duration) -> bool {
        let mut inner = self.lock();
        let now = Instant::now();
        if Self::live(&inner, &key, now).is_some() {
            return false;
        }
        Self::write(&mut inner, key, value, now + ttl);
        true
    }

    fn delete(&self, key: &str) {
        self.lock().map.remove(key);
    }

    fn delete_if_equals(&self, key: &str, value: &str) -> bool {
        let mut inner = self.lock();
        let now = Instant::now();
        if Self::live(&inner, key, now).is_some_and(|(v, _)| v == value) {
            inner.map.remove(key);
            return true;
        }
        false
    }

    fn incr_window(&self, key: String, window: Duration) -> (i64, u64) {
        let mut inner = self.lock();
        let now = Instant::now();
        let (count, expires) = match Self::live(&inner, &key, now) {
            Some((v, exp)) => (v.parse::<i64>().unwrap_or(0) + 1, *exp),
            None => (1, now + window),
        };
        Self::write(&mut inner, key, count.to_string(), expires);
        let left = expires.saturating_duration_since(now).as_millis() as u64;
        (count, left.div_ceil(1000))
    }

    fn zset<'a>(
        inner: &'a mut MemoryInner,
        key: &str,
        now: Instant,
    ) -> Option<&'a mut HashMap<String, i64>> {
        match inner.zsets.get_mut(key) {
            Some((set, exp)) if *exp > now => Some(set),
            _ => None,
        }
    }

    fn zincr_existing(&self, key: &str, member: &str, by: i64) -> bool {
        let mut inner = self.lock();
        match Self::zset(&mut inner, key, Instant::now()) {
            Some(set) => {
                *set.entry(member.to_owned()).or_default() += by;
                true
            }
            None => false,
        }
    }

    fn zreplace(&self, key: String, members: &[Scored], ttl: Duration) {
        let set = members.iter().cloned().collect();
        let mut inner = self.lock();
        let now = Instant::now();
        inner.zsets.retain(|_, (_, exp)| *exp > now);
        inner.zsets.insert(key, (set, now + ttl));
    }

    /// Highest score first; ties by greater member first, as Redis orders a reverse range.
    fn sorted(set: &HashMap<String, i64>) -> Vec<Scored> {
        let mut all: Vec<Scored> = set.iter().map(|(m, s)| (m.clone(), *s)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        all
    }

    fn ztop(&self, key: &str, n: usize) -> Option<Vec<Scored>> {
        let mut inner = self.lock();
        let set = Self::zset(&mut inner, key, Instant::now())?;
        let mut all = Self::sorted(set);
        all.truncate(n);
        Some(all)
    }

    fn zplace(&self, key: &str, member: &str) -> Option<(u64, i64)> {
        let mut inner = self.lock();
        let set = Self::zset(&mut inner, key, Instant::now())?;
        Self::sorted(set)
            .iter()
            .position(|(m, _)| m == member)
            .map(|i| (i as u64, set[member]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Cache {
        Cache {
            prefix: "t:".into(),
            backend: Backend::Memory(Arc::new(MemoryStore::default())),
            metrics: None,
        }
    }

    #[tokio::test]
    async fn memory_backend_semantics() {
        let c = memory();
        assert!(c.set_nx("a", "1", Duration::from_secs(5)).await.unwrap());
        assert!(!c.set_nx("a", "2", Duration::from_secs(5)).await.unwrap());
        assert_eq!(c.get("a").await.unwrap().as_deref(), Some("1"));
        assert!(!c.delete_if_equals("a", "2").await.unwrap());
        assert!(c.delete_if_equals("a", "1").await.unwrap());
        assert_eq!(c.get("a").await.unwrap(), None);
        c.set("b", "x", Duration::from_millis(20)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(c.get("b").await.unwrap(), None);
        let (n1, ttl) = c.incr_window("n", Duration::from_secs(60)).await.unwrap();
        let (n2, _) = c.incr_window("n", Duration::from_secs(60)).await.unwrap();
        assert_eq!((n1, n2), (1, 2));
        assert!(ttl > 0 && ttl <= 60);
    }

    #[tokio::test]
    async fn memory_sorted_sets() {
        let c = memory();
        assert!(!c.zincr_existing("z", "7", 5).await.unwrap());
        assert_eq!(c.ztop("z", 3).await.unwrap(), None);
        c.zreplace("z", &[], Duration::from_secs(5)).await.unwrap();
        assert_eq!(c.ztop("z", 3).await.unwrap(), Some(vec![]));
        assert!(c.zincr_existing("z", "7", 5).await.unwrap());
        assert!(c.zincr_existing("z", "8", 9).await.unwrap());
        assert!(c.zincr_existing("z", "9", 5).await.unwrap());
        let top = c.ztop("z", 2).await.unwrap().unwrap();
        assert_eq!(top, vec![("8".to_owned(), 9), ("9".to_owned(), 5)]);
        assert_eq!(c.zplace("z", "7").await.unwrap(), Some((2, 5)));
        assert_eq!(c.zplace("z", "1").await.unwrap(), None);
    }
}
