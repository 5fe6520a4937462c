//! The worker table: every registered session, grouped into pools by the
//! route it announced, and the choice of a session for each request
//! ([spec](../../../spec/PROTOCOL.md#routing)).
//!
//! Selection is least-outstanding-streams within the best-matching pool,
//! among sessions with spare declared capacity; ties rotate so equal workers
//! share the load. The table holds no session state machines, only what
//! dispatch needs, so it stays testable on its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use zroute_proto::StreamId;

use std::hash::Hash;

use foldhash::HashMap;
use zroute_proto::routing::Route;

use super::PeerKey;

/// The pool of workers that announced no route.
pub(crate) const DEFAULT_POOL: &str = "";

#[derive(Debug)]
pub(crate) struct Entry {
    /// Shared with each request's access log line, so a request clones no string.
    pub(crate) worker_id: Arc<str>,
    pub(crate) routes: Vec<Route>,
    pub(crate) capacity: u32,
    pub(crate) in_flight: u32,
    pub(crate) draining: bool,
    /// Streams whose request body waits for window on this session, so a
    /// session WINDOW_UPDATE wakes only them, not every stream there is.
    /// Each stream is listed at most once (`StreamCtx::parked`).
    pub(crate) parked: Vec<StreamId>,
    /// The worker announced the feature `websocket`.
    pub(crate) websocket: bool,
    /// The router's address the session's connection reached (its local
    /// address, else the bound endpoint): what `/workers` and the
    /// `worker_sessions` gauge group sessions by.
    pub(crate) router_address: Arc<str>,
}

impl Entry {
    fn has_room(&self) -> bool {
        !self.draining && self.in_flight < self.capacity
    }
}

/// Keyed by the endpoint's session handles (`K`: the tests use plain bytes).
#[derive(Debug)]
pub(crate) struct Table<K = PeerKey> {
    entries: HashMap<K, Entry>,
    /// Pool key (a route's text, or `DEFAULT_POOL`) to its members, in join order.
    pools: BTreeMap<Arc<str>, Vec<K>>,
    /// Rotates the starting point of each scan so ties are spread.
    cursor: usize,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Self {
            entries: HashMap::default(),
            pools: BTreeMap::new(),
            cursor: 0,
        }
    }
}

impl<K: Clone + Eq + Hash> Table<K> {
    pub(crate) fn insert(&mut self, peer: K, entry: Entry) {
        self.remove(&peer);
        let keys: Vec<&str> = if entry.routes.is_empty() {
            vec![DEFAULT_POOL]
        } else {
            entry.routes.iter().map(Route::as_str).collect()
        };
        for key in keys {
            match self.pools.get_mut(key) {
                Some(members) => members.push(peer.clone()),
                None => {
                    self.pools.insert(Arc::from(key), vec![peer.clone()]);
                }
            }
        }
        self.entries.insert(peer, entry);
    }

    pub(crate) fn remove(&mut self, peer: &K) -> Option<Entry> {
        let entry = self.entries.remove(peer)?;
        self.pools.retain(|_, members| {
            members.retain(|m| m != peer);
            !members.is_empty()
        });
        Some(entry)
    }

    pub(crate) fn get(&self, peer: &K) -> Option<&Entry> {
        self.entries.get(peer)
    }

    pub(crate) fn get_mut(&mut self, peer: &K) -> Option<&mut Entry> {
        self.entries.get_mut(peer)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The pool that serves a request: the most specific matching route, or
    /// the default pool. `None` when no worker could ever take it.
    /// Whether some member of `pool` takes WebSocket streams, busy or not.
    pub(crate) fn takes_websockets(&self, pool: &str) -> bool {
        self.pools
            .get(pool)
            .is_some_and(|members| members.iter().any(|p| self.entries[p].websocket))
    }

    pub(crate) fn pool_for(&self, host: &str, path: &str) -> Option<&Arc<str>> {
        let best = self
            .pools
            .iter()
            .filter(|(k, _)| &***k != DEFAULT_POOL)
            .filter_map(|(key, members)| {
                let peer = members.first()?;
                let route = self.entries[peer]
                    .routes
                    .iter()
                    .find(|r| r.as_str() == &**key)?;
                route.matches(host, path).map(|s| (s, key))
            })
            .max_by_key(|(s, _)| *s)
            .map(|(_, key)| key);
        best.or_else(|| self.pools.get_key_value(DEFAULT_POOL).map(|(k, _)| k))
    }

    /// The member of `pool` with spare capacity and the fewest streams in
    /// flight, other than those in `avoid` (the sessions a retried request
    /// already tried, spec #stream-retry) unless the pool has no other member;
    /// for `websocket`, only members that take WebSocket streams.
    pub(crate) fn pick(&mut self, pool: &str, avoid: &[K], websocket: bool) -> Option<K> {
        let members = self.pools.get(pool)?;
        let n = members.len();
        self.cursor = self.cursor.wrapping_add(1);
        let start = self.cursor % n;
        let avoid_any = members.iter().any(|p| !avoid.contains(p));
        // The first member with the fewest in flight, from the cursor on;
        // an idle one cannot be beaten, so the walk stops there (with many
        // workers, most are idle: a full walk per request was a twentieth
        // of the router's CPU with 200 workers).
        let mut best: Option<(&K, u32)> = None;
        for i in 0..n {
            let peer = &members[(start + i) % n];
            if avoid_any && avoid.contains(peer) {
                continue;
            }
            let entry = &self.entries[peer];
            if !entry.has_room() || (websocket && !entry.websocket) {
                continue;
            }
            if entry.in_flight == 0 {
                return Some(peer.clone());
            }
            if best.is_none_or(|(_, fewest)| entry.in_flight < fewest) {
                best = Some((peer, entry.in_flight));
            }
        }
        best.map(|(peer, _)| peer.clone())
    }

    /// Whether any member of `pool` could take a stream now.
    #[cfg(test)]
    pub(crate) fn has_room(&self, pool: &str) -> bool {
        self.pools
            .get(pool)
            .is_some_and(|m| m.iter().any(|p| self.entries[p].has_room()))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    type PeerId = Bytes;

    fn entry(id: &str, routes: &[&str], capacity: u32) -> Entry {
        Entry {
            worker_id: Arc::from(id),
            routes: routes.iter().map(|r| Route::parse(r).unwrap()).collect(),
            capacity,
            in_flight: 0,
            draining: false,
            parked: Vec::new(),
            websocket: false,
            router_address: Arc::from("tcp://127.0.0.1:8000"),
        }
    }

    fn pool<'t>(t: &'t Table<PeerId>, path: &str) -> Option<&'t str> {
        t.pool_for("h", path).map(|p| &**p)
    }

    fn peer(n: u8) -> PeerId {
        Bytes::from(vec![n])
    }

    #[test]
    fn routes_pick_their_pool_and_the_rest_go_default() {
        let mut t = Table::<PeerId>::default();
        t.insert(peer(1), entry("api", &["/api"], 1));
        t.insert(peer(2), entry("static", &["/static"], 1));
        t.insert(peer(3), entry("any", &[], 1));
        assert_eq!(pool(&t, "/api/users"), Some("/api"));
        assert_eq!(pool(&t, "/static/a.css"), Some("/static"));
        assert_eq!(pool(&t, "/other"), Some(DEFAULT_POOL));
        t.remove(&peer(3));
        assert_eq!(pool(&t, "/other"), None);
        t.remove(&peer(1));
        assert_eq!(
            pool(&t, "/api/users"),
            None,
            "a route whose workers left no longer exists"
        );
    }

    #[test]
    fn least_outstanding_with_capacity() {
        let mut t = Table::<PeerId>::default();
        t.insert(peer(1), entry("a", &[], 2));
        t.insert(peer(2), entry("b", &[], 2));
        let mut counts = [0u32; 3];
        for _ in 0..4 {
            let p = t.pick(DEFAULT_POOL, &[], false).unwrap();
            t.get_mut(&p).unwrap().in_flight += 1;
            counts[p[0] as usize] += 1;
        }
        assert_eq!(counts, [0, 2, 2]);
        assert_eq!(t.pick(DEFAULT_POOL, &[], false), None, "both at capacity");
        assert!(!t.has_room(DEFAULT_POOL));
        t.get_mut(&peer(2)).unwrap().in_flight -= 1;
        assert_eq!(t.pick(DEFAULT_POOL, &[], false), Some(peer(2)));
    }

    #[test]
    fn draining_members_take_nothing_new() {
        let mut t = Table::<PeerId>::default();
        t.insert(peer(1), entry("a", &[], 8));
        t.insert(peer(2), entry("b", &[], 8));
        t.get_mut(&peer(1)).unwrap().draining = true;
        for _ in 0..5 {
            assert_eq!(t.pick(DEFAULT_POOL, &[], false), Some(peer(2)));
        }
    }

    /// spec: #stream-retry — a retry goes to another session while there is one.
    #[test]
    fn retries_avoid_the_sessions_tried() {
        let mut t = Table::<PeerId>::default();
        t.insert(peer(1), entry("refuser", &[], 8));
        t.insert(peer(2), entry("busy", &[], 8));
        t.get_mut(&peer(2)).unwrap().in_flight = 5;
        assert_eq!(
            t.pick(DEFAULT_POOL, &[], false),
            Some(peer(1)),
            "least loaded"
        );
        for _ in 0..4 {
            assert_eq!(t.pick(DEFAULT_POOL, &[peer(1)], false), Some(peer(2)));
        }
        t.get_mut(&peer(2)).unwrap().in_flight = 8;
        assert_eq!(
            t.pick(DEFAULT_POOL, &[peer(1)], false),
            None,
            "wait for the other one"
        );
        t.remove(&peer(2));
        assert_eq!(
            t.pick(DEFAULT_POOL, &[peer(1)], false),
            Some(peer(1)),
            "the only member is tried again"
        );
    }

    #[test]
    fn ties_rotate() {
        let mut t = Table::<PeerId>::default();
        for n in 1..=3 {
            t.insert(peer(n), entry("w", &[], 8));
        }
        let picked: std::collections::HashSet<_> = (0..6)
            .map(|_| t.pick(DEFAULT_POOL, &[], false).unwrap())
            .collect();
        assert_eq!(picked.len(), 3, "idle workers all get a turn");
    }
}
