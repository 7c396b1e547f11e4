//! Short-lived, in-process copies of what read requests (GET) look up on every call: the
//! signed-in user with their roles, their standing in a community, and the first page of a
//! community's wish wall. They let a busy wall be served without a database round trip.
//!
//! Writes never use them: every POST, PUT, PATCH and DELETE reads the database, and one that
//! succeeds clears this process's copies of users and standings. The walls' copies are
//! cleared by whatever changes a wish — each step of its life, an edit, the release job, an
//! account's erasure (`wishes::queries::forget_walls`). Another process may serve a read from its copy for at most `server.read_cache_ms`
//! after a logout or a role change — the price of not asking the database on every read.
//! `read_cache_ms = 0` turns them off.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::access::{CommunityAccess, CurrentUser};

/// Entries kept before the map is emptied (bounds memory under churn).
const MAX_ENTRIES: usize = 50_000;

pub struct TtlMap<K, V> {
    ttl: Duration,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        // A panic while holding the lock cannot leave the map half-written.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.lock();
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (Instant::now(), value));
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}

pub struct Reads {
    /// By session id.
    pub users: TtlMap<String, CurrentUser>,
    /// By (user, community).
    pub access: TtlMap<(i64, i64), CommunityAccess>,
    /// The wall's cursorless pages, by community and query, as the JSON sent.
    pub walls: TtlMap<String, bytes::Bytes>,
}

impl Reads {
    pub fn new(ttl: Duration) -> Self {
        Self {
            users: TtlMap::new(ttl),
            access: TtlMap::new(ttl),
            walls: TtlMap::new(ttl),
        }
    }

    /// After a successful write: who may do what may have changed.
    pub fn forget_standing(&self) {
        self.users.clear();
        self.access.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_the_ttl_and_zero_turns_it_off() {
        let m = TtlMap::new(Duration::from_millis(30));
        m.put(1, "a");
        assert_eq!(m.get(&1), Some("a"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(m.get(&1), None);
        m.put(2, "b");
        m.clear();
        assert_eq!(m.get(&2), None);
        let off = TtlMap::new(Duration::ZERO);
        off.put(1, "a");
        assert_eq!(off.get(&1), None);
    }
}
