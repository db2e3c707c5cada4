//! [`FlightCache`]: the one cache mechanism of the workspace (contracts, `/quote` bars, the account list).
//!
//! A map of values with a per-entry lifetime chosen when the value is fetched, and **single-flight** fetching:
//! concurrent callers missing the same key wait for one fetch instead of each making their own gateway call. An
//! expired value is kept (until invalidated or pushed out by the size cap) and handed to the next fetch, so a
//! caller can fall back to it when the refresh fails. Errors are never cached; a caller that wants "not found"
//! cached makes it a value (`Ok(None)` with a short lifetime). Why not a cache crate: `docs/decisions/0004-caches.md`.
//!
//! Time is [`tokio::time::Instant`], so paused-time tests drive expiry.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// A single-flight cache with per-entry expiry, on-demand invalidation and access to expired values.
///
/// Not `Clone`: share it inside an `Arc` (or the owner's `Arc`).
pub struct FlightCache<K, V> {
    /// Values by key. Written after each fetch and by [`insert`](Self::insert)/`invalidate*`, read by every
    /// lookup; a sync lock held for one statement, never across an await.
    entries: parking_lot::Mutex<HashMap<K, Entry<V>>>,
    /// One async mutex per key being fetched: its holder fetches, the others wait, then find the value. The slot
    /// is removed by the last caller through it (a drop guard, so a cancelled caller cleans up too).
    flights: parking_lot::Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    /// Past this many entries an insert first drops expired entries, then the one expiring soonest.
    max_entries: usize,
}

struct Entry<V> {
    value: V,
    /// Served without a fetch until this instant; kept afterwards as the "last value".
    fresh_until: Instant,
}

impl<K, V> fmt::Debug for FlightCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlightCache")
            .field("entries", &self.entries.lock().len())
            .field("in_flight", &self.flights.lock().len())
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl<K, V> FlightCache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// An empty cache holding at most `max_entries` values (at least 1).
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: parking_lot::Mutex::default(),
            flights: parking_lot::Mutex::default(),
            max_entries: max_entries.max(1),
        }
    }

    /// The value for `key` if it is still fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let now = Instant::now();
        self.entries.lock().get(key).filter(|e| e.fresh_until > now).map(|e| e.value.clone())
    }

    /// The value for `key`, fresh or expired (the stale fallback); `None` once invalidated or never stored.
    pub fn last(&self, key: &K) -> Option<V> {
        self.entries.lock().get(key).map(|e| e.value.clone())
    }

    /// Until when `key`'s value is served without a fetch; `None` when nothing is stored.
    pub fn fresh_until(&self, key: &K) -> Option<Instant> {
        self.entries.lock().get(key).map(|e| e.fresh_until)
    }

    /// Stores `value` under `key`, fresh for `ttl` (zero: kept only as the last value).
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, e| e.fresh_until > now);
            if entries.len() >= self.max_entries {
                let soonest = entries.iter().min_by_key(|(_, e)| e.fresh_until).map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(key, Entry { value, fresh_until: now + ttl });
    }

    /// Forgets `key` (fresh and last value); returns what was stored. A fetch already running stores its answer
    /// when it finishes.
    pub fn invalidate(&self, key: &K) -> Option<V> {
        self.entries.lock().remove(key).map(|e| e.value)
    }

    /// Forgets every entry for which `forget(key, value)` is true.
    pub fn invalidate_if(&self, mut forget: impl FnMut(&K, &V) -> bool) {
        self.entries.lock().retain(|k, e| !forget(k, &e.value));
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        self.entries.lock().clear();
    }

    /// The fresh value for `key`, or the result of `fetch`, run by one caller at a time per key.
    ///
    /// `fetch` gets the last value (expired, or `None`) so it can fall back to it, and returns the value with its
    /// lifetime: `Ok((value, ttl))` is stored and returned; `Err` is returned and nothing is stored, so the next
    /// caller (including one that waited for this fetch) fetches again. Callers that arrive while a fetch is
    /// running wait for it and get its value without fetching. Cancel-safe: a dropped caller releases its turn.
    pub async fn get_or_fetch<F, Fut, E>(&self, key: &K, fetch: F) -> Result<V, E>
    where
        F: FnOnce(Option<V>) -> Fut,
        Fut: Future<Output = Result<(V, Duration), E>>,
    {
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let flight = Flight::join(&self.flights, key);
        let _turn = flight.slot.lock().await;
        // Whoever held the turn before us may have just stored the value.
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let (value, ttl) = fetch(self.last(key)).await?;
        self.insert(key.clone(), value.clone(), ttl);
        Ok(value)
    }
}

/// A caller's share of a key's flight slot; removes the slot from the map when the last sharer leaves.
struct Flight<'a, K: Eq + Hash> {
    map: &'a parking_lot::Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    key: K,
    slot: Arc<tokio::sync::Mutex<()>>,
}

impl<'a, K: Eq + Hash + Clone> Flight<'a, K> {
    fn join(map: &'a parking_lot::Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>, key: &K) -> Self {
        let slot = map.lock().entry(key.clone()).or_default().clone();
        Self { map, key: key.clone(), slot }
    }
}

impl<K: Eq + Hash> Drop for Flight<'_, K> {
    fn drop(&mut self) {
        let mut map = self.map.lock();
        // Two owners (the map and us): nobody else is waiting on this key. Sharers clone under the same lock.
        if Arc::strong_count(&self.slot) == 2 {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    type Fetch<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(u32, Duration), String>> + Send + 'a>>;

    /// A fetch that counts its calls, takes 50 ms, and answers `value` for `ttl`.
    fn counted<'a>(calls: &'a AtomicUsize, value: u32, ttl: Duration) -> impl FnOnce(Option<u32>) -> Fetch<'a> {
        move |_| {
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok((value, ttl))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_of_one_key_share_one_fetch() {
        let cache = Arc::new(FlightCache::<String, u32>::new(16));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move { cache.get_or_fetch(&"k".to_owned(), counted(&calls, 7, HOUR)).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(cache.flights.lock().is_empty(), "the flight slot is removed by the last caller");
    }

    #[tokio::test(start_paused = true)]
    async fn different_keys_fetch_independently() {
        let cache = FlightCache::<&str, u32>::new(16);
        let calls = AtomicUsize::new(0);
        let (a, b) = tokio::join!(
            cache.get_or_fetch(&"a", counted(&calls, 1, HOUR)),
            cache.get_or_fetch(&"b", counted(&calls, 2, HOUR)),
        );
        assert_eq!((a, b), (Ok(1), Ok(2)));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn each_entry_expires_after_the_lifetime_its_fetch_chose() {
        let cache = FlightCache::<&str, Option<u32>>::new(16);
        let calls = AtomicUsize::new(0);
        let fetch = |v: Option<u32>| {
            let calls = &calls;
            move |_| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                // A found value lives 10 s, "not found" 1 s (the resolver's negative ttl).
                let ttl = if v.is_some() { Duration::from_secs(10) } else { Duration::from_secs(1) };
                Ok::<_, String>((v, ttl))
            }
        };
        assert_eq!(cache.get_or_fetch(&"found", fetch(Some(1))).await, Ok(Some(1)));
        assert_eq!(cache.get_or_fetch(&"missing", fetch(None)).await, Ok(None));
        assert_eq!(cache.get_or_fetch(&"missing", fetch(None)).await, Ok(None));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "a negative answer is cached too");
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(cache.get(&"missing"), None);
        assert_eq!(cache.get(&"found"), Some(Some(1)));
        assert_eq!(cache.get_or_fetch(&"missing", fetch(None)).await, Ok(None));
        assert_eq!(cache.get_or_fetch(&"found", fetch(Some(2))).await, Ok(Some(1)));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(cache.get_or_fetch(&"found", fetch(Some(2))).await, Ok(Some(2)));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_forgets_one_key_and_invalidate_all_every_key() {
        let cache = FlightCache::<&str, u32>::new(16);
        let calls = AtomicUsize::new(0);
        cache.get_or_fetch(&"a", counted(&calls, 1, HOUR)).await.unwrap();
        cache.get_or_fetch(&"b", counted(&calls, 2, HOUR)).await.unwrap();
        assert_eq!(cache.invalidate(&"a"), Some(1));
        assert_eq!((cache.get(&"a"), cache.last(&"a"), cache.get(&"b")), (None, None, Some(2)));
        assert_eq!(cache.get_or_fetch(&"a", counted(&calls, 3, HOUR)).await, Ok(3));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        cache.invalidate_if(|_, v| *v == 2);
        assert_eq!((cache.get(&"a"), cache.get(&"b")), (Some(3), None));
        cache.invalidate_all();
        assert_eq!(cache.get(&"a"), None);
        assert_eq!(cache.get_or_fetch(&"a", counted(&calls, 4, HOUR)).await, Ok(4));
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_is_not_cached_and_waiters_fetch_again() {
        let cache = Arc::new(FlightCache::<&str, u32>::new(16));
        let calls = Arc::new(AtomicUsize::new(0));
        let failing = |calls: Arc<AtomicUsize>| {
            move |_| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err::<(u32, Duration), _>("gateway down".to_owned())
            }
        };
        let first = {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move { cache.get_or_fetch(&"k", failing(calls)).await })
        };
        tokio::task::yield_now().await;
        // Queued behind the failing fetch: it runs its own fetch afterwards (which succeeds).
        let second = {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move { cache.get_or_fetch(&"k", counted(&calls, 5, HOUR)).await })
        };
        assert_eq!(first.await.unwrap(), Err("gateway down".to_owned()));
        assert_eq!(second.await.unwrap(), Ok(5));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(cache.get(&"k"), Some(5));
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_value_is_offered_to_the_refresh_for_a_stale_fallback() {
        let cache = FlightCache::<&str, u32>::new(16);
        cache.insert("k", 1, Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!((cache.get(&"k"), cache.last(&"k")), (None, Some(1)));
        // The refresh fails; it serves the previous value for a short while instead.
        let served = cache
            .get_or_fetch(&"k", |last| async move {
                let stale = last.ok_or("no previous value")?;
                Ok::<_, &str>((stale, Duration::from_secs(30)))
            })
            .await;
        assert_eq!(served, Ok(1));
        assert_eq!(cache.get(&"k"), Some(1), "the fallback is fresh for the retry delay");
        cache.invalidate(&"k");
        let after_invalidate =
            cache.get_or_fetch(&"k", |last| async move { last.map(|v| (v, HOUR)).ok_or("no previous value") }).await;
        assert_eq!(after_invalidate, Err("no previous value"), "invalidation also forgets the fallback");
    }

    #[tokio::test(start_paused = true)]
    async fn the_size_cap_drops_expired_entries_first_then_the_soonest_to_expire() {
        let cache = FlightCache::<u32, u32>::new(3);
        cache.insert(1, 1, Duration::from_secs(1));
        cache.insert(2, 2, Duration::from_secs(100));
        cache.insert(3, 3, Duration::from_secs(50));
        tokio::time::advance(Duration::from_secs(2)).await;
        cache.insert(4, 4, HOUR);
        assert_eq!((cache.last(&1), cache.get(&2), cache.get(&3)), (None, Some(2), Some(3)));
        cache.insert(5, 5, HOUR);
        assert_eq!((cache.get(&3), cache.get(&2), cache.get(&4), cache.get(&5)), (None, Some(2), Some(4), Some(5)));
        cache.insert(5, 6, HOUR);
        assert_eq!((cache.get(&2), cache.get(&5)), (Some(2), Some(6)), "replacing a key evicts nothing");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_caller_does_not_block_the_key() {
        let cache = Arc::new(FlightCache::<&str, u32>::new(16));
        let stuck = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache.get_or_fetch(&"k", |_| std::future::pending::<Result<(u32, Duration), String>>()).await
            })
        };
        tokio::task::yield_now().await;
        stuck.abort();
        assert!(stuck.await.unwrap_err().is_cancelled());
        let calls = AtomicUsize::new(0);
        assert_eq!(cache.get_or_fetch(&"k", counted(&calls, 9, HOUR)).await, Ok(9));
        assert!(cache.flights.lock().is_empty());
    }
}
