//! The one thread-pool policy of the crate.
//!
//! Every parallel entry point takes `num_threads: Option<usize>` and runs its rayon work
//! inside [`install`]. `None` (or 0) means: the `LEXFORGE_NUM_THREADS` environment variable
//! if set, else the number of available cores. Any request is capped at [`max_threads`]
//! (4 × the available cores, at least 8): more threads than that only add switching, and an
//! unbounded value (say `LEXFORGE_NUM_THREADS=100000`) would spend minutes spawning threads.
//! The [`POOLS_KEPT`] most recently used pools are kept and reused; older ones are dropped
//! (their threads exit once no call runs on them), so callers that vary `num_threads` from
//! call to call do not pile up idle threads. A process id check forgets the pools after
//! `fork`, whose children inherit the pool objects but not their threads. A call asking for
//! one thread gets a pool of its calling thread's own, so that threads each asking for one
//! (a server's workers) run side by side instead of queueing on one shared worker. Results never
//! depend on the thread count: work is split
//! into chunks whose results are combined in a fixed order, and randomness (elsewhere) is
//! seeded per item.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Environment variable that sets the default number of threads.
pub const THREADS_ENV: &str = "LEXFORGE_NUM_THREADS";

/// How many pools are kept alive between calls (most recently used first out last).
pub const POOLS_KEPT: usize = 4;

/// The available cores, read once: `available_parallelism` reads the cgroup files under
/// /proc and /sys on every call, which cost a quarter of a small masking call.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The most threads any call gets: 4 × the available cores, at least 8.
pub fn max_threads() -> usize {
    cores().saturating_mul(4).max(8)
}

/// The number of threads a call asking for `requested` gets (capped at [`max_threads`]).
pub fn resolve_threads(requested: Option<usize>) -> usize {
    if let Some(n) = requested.filter(|&n| n > 0) {
        return n.min(max_threads());
    }
    if let Some(n) = std::env::var(THREADS_ENV).ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        if n > 0 {
            return n.min(max_threads());
        }
    }
    cores()
}

/// The results of parallel work, in input order, or its lowest-index error. Rayon's own
/// `collect::<Result<_>>()` keeps whichever error a thread met first in time, so which of
/// several bad inputs an error named would depend on the thread count and the timing.
pub fn in_order<T, E>(results: Vec<Result<T, E>>) -> Result<Vec<T>, E> {
    results.into_iter().collect()
}

/// Runs `f` inside a pool of `resolve_threads(requested)` threads.
pub fn install<R: Send>(requested: Option<usize>, f: impl FnOnce() -> R + Send) -> R {
    let n = resolve_threads(requested);
    let found = if n == 1 && rayon::current_thread_index().is_none() { own_pool() } else { None };
    match found.or_else(|| pool(n)) {
        Some(pool) => pool.install(f),
        None => f(), // no pool could be built: run on the calling thread
    }
}

thread_local! {
    /// The calling thread's own one-thread pool (with the process id that built it).
    static OWN: RefCell<Option<(u32, Arc<ThreadPool>)>> = const { RefCell::new(None) };
}

/// The calling thread's one-thread pool, built on its first call (its worker exits with
/// the calling thread); after `fork`, a new one (the inherited one has no thread).
fn own_pool() -> Option<Arc<ThreadPool>> {
    let pid = std::process::id();
    OWN.try_with(|own| {
        let mut own = own.borrow_mut();
        if let Some((built_in, pool)) = own.as_ref() {
            if *built_in == pid {
                return Some(pool.clone());
            }
        }
        if let Some((_, stale)) = own.take() {
            std::mem::forget(stale); // forked: its thread is not in this process
        }
        let built = ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "lexforge-own".to_string())
            .build()
            .ok()?;
        let built = Arc::new(built);
        *own = Some((pid, built.clone()));
        Some(built)
    })
    .ok()
    .flatten()
}

type Pools = Vec<(u32, usize, Arc<ThreadPool>)>;
/// The kept pools, least recently used first: (process id, size, pool). Held only for a
/// lookup or an insertion (pools are built and dropped outside it), and taken by `fork`
/// itself ([`fork_safety`]), so that a child never inherits it locked.
static POOLS: Mutex<Pools> = Mutex::new(Vec::new());

fn kept() -> std::sync::MutexGuard<'static, Pools> {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if pools.iter().any(|(p, _, _)| *p != pid) {
        // forked: the inherited pools have no threads; forget them without joining
        for (_, _, stale) in pools.drain(..) {
            std::mem::forget(stale);
        }
    }
    pools
}

fn pool(n: usize) -> Option<Arc<ThreadPool>> {
    fork_safety::register();
    {
        let mut pools = kept();
        // least recently used first: a hit moves to the back, a new pool evicts the front
        if let Some(i) = pools.iter().position(|(_, size, _)| *size == n) {
            let hit = pools.remove(i);
            let p = hit.2.clone();
            pools.push(hit);
            return Some(p);
        }
    }
    let built = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("lexforge-{i}"))
        .build()
        .ok()?;
    let built = Arc::new(built);
    let evicted = {
        let mut pools = kept();
        if let Some((_, _, other)) = pools.iter().find(|(_, size, _)| *size == n) {
            return Some(other.clone()); // another thread built one meanwhile (ours drops)
        }
        pools.push((std::process::id(), n, built.clone()));
        (pools.len() > POOLS_KEPT).then(|| pools.remove(0))
    };
    // a call still running on it holds its own `Arc`; the threads exit after it ends
    drop(evicted);
    Some(built)
}

/// `fork` takes the pools' lock first and lets go of it in the parent and the child (a
/// child forked while another thread held it would wait on it for ever: the thread that
/// would let go of it does not exist there).
#[cfg(unix)]
mod fork_safety {
    use std::cell::RefCell;
    use std::sync::{MutexGuard, Once};

    thread_local! {
        static HELD: RefCell<Option<MutexGuard<'static, super::Pools>>> = const { RefCell::new(None) };
    }

    extern "C" fn prepare() {
        let guard = super::POOLS.lock().unwrap_or_else(|e| e.into_inner());
        HELD.with(|held| *held.borrow_mut() = Some(guard));
    }

    extern "C" fn release() {
        HELD.with(|held| drop(held.borrow_mut().take()));
    }

    pub(super) fn register() {
        static ONCE: Once = Once::new();
        // SAFETY: the handlers only take and release a lock that nothing holds across a
        // fork or a blocking call, in the forking thread (the only one a child has)
        ONCE.call_once(|| unsafe {
            libc::pthread_atfork(Some(prepare), Some(release), Some(release));
        });
    }
}

#[cfg(not(unix))]
mod fork_safety {
    pub(super) fn register() {}
}

/// Texts shorter than this in all are encoded on the calling thread: a pool's hand-off
/// (tens of microseconds) costs more than encoding them.
pub const SMALL_TEXT_BYTES: usize = 16 << 10;

/// `requested`, or one thread when `texts` and their `pairs` (if any) are under
/// [`SMALL_TEXT_BYTES`] in all.
pub fn threads_for_texts(
    requested: Option<usize>,
    texts: &[&str],
    pairs: Option<&[&str]>,
) -> Option<usize> {
    threads_for_bytes(requested, texts.iter().chain(pairs.unwrap_or_default()).map(|t| t.len()))
}

/// `requested`, or one thread when the texts of these byte lengths are under
/// [`SMALL_TEXT_BYTES`] in all.
pub fn threads_for_bytes(
    requested: Option<usize>,
    lengths: impl IntoIterator<Item = usize>,
) -> Option<usize> {
    let mut bytes = 0;
    for n in lengths {
        bytes += n;
        if bytes >= SMALL_TEXT_BYTES {
            return requested;
        }
    }
    Some(1)
}

/// `f` over consecutive ranges of `0..len` (about `4 × threads` of them, each at least
/// `min_chunk` long), results in order: in parallel inside [`install`], or on the calling
/// thread when one thread is asked for or the work is one range. Handing work to a pool
/// and waiting for it costs tens of microseconds, more than encoding a sentence.
pub fn map_ranges<R: Send>(
    requested: Option<usize>,
    len: usize,
    min_chunk: usize,
    f: impl Fn(std::ops::Range<usize>) -> R + Sync + Send,
) -> Vec<R> {
    use rayon::prelude::*;
    let threads = resolve_threads(requested);
    let chunk = len.div_ceil(threads * 4).max(min_chunk).max(1);
    let range = |c: usize| c * chunk..((c + 1) * chunk).min(len);
    let n_chunks = len.div_ceil(chunk);
    if threads == 1 || n_chunks <= 1 {
        return (0..n_chunks).map(|c| f(range(c))).collect();
    }
    install(requested, || (0..n_chunks).into_par_iter().map(|c| f(range(c))).collect())
}

/// Splits `len` items into about `4 × threads` contiguous chunks (at least `min_chunk` each).
pub fn chunk_len(len: usize, min_chunk: usize) -> usize {
    let parts = rayon::current_num_threads().max(1) * 4;
    len.div_ceil(parts).max(min_chunk).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn map_ranges_covers_in_order_and_skips_the_pool_for_one_thread() {
        for threads in [1, 2, 3] {
            for len in [0, 1, 7, 64, 65, 1000] {
                let ranges = map_ranges(Some(threads), len, 8, |r| r);
                let flat: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(flat, (0..len).collect::<Vec<_>>(), "threads {threads} len {len}");
                assert!(ranges.iter().all(|r| !r.is_empty()));
            }
        }
        // one thread, or one range: the calling thread does the work (no pool hand-off)
        let caller = std::thread::current().id();
        let on = |threads, len| map_ranges(Some(threads), len, 64, |_| std::thread::current().id());
        assert!(on(1, 1000).iter().all(|&id| id == caller));
        assert!(on(2, 10).iter().all(|&id| id == caller));
        let spread = on(2, 100_000);
        assert!(spread.len() > 1 && spread.iter().all(|&id| id != caller));
    }

    #[test]
    fn pools_have_the_requested_size() {
        for n in [1, 2, 3] {
            assert_eq!(install(Some(n), rayon::current_num_threads), n);
        }
        let sum: u64 = install(Some(2), || (0..1000u64).into_par_iter().sum());
        assert_eq!(sum, 499_500);
    }

    #[test]
    fn one_thread_calls_from_several_threads_each_get_a_worker() {
        // (the shared one-thread pool ran every such call on its one worker, in turn)
        let workers: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(|| install(Some(1), || std::thread::current().id())))
            .map(|h| h.join().unwrap())
            .collect();
        assert!(workers[0] != workers[1] && workers[1] != workers[2]);
        // the same calling thread keeps its worker
        let again = std::thread::spawn(|| {
            let first = install(Some(1), || std::thread::current().id());
            (first, install(Some(1), || std::thread::current().id()))
        });
        let (first, second) = again.join().unwrap();
        assert_eq!(first, second);
        assert_eq!(install(Some(1), rayon::current_num_threads), 1);
    }

    #[test]
    fn requests_are_capped_and_pools_bounded() {
        assert_eq!(resolve_threads(Some(usize::MAX)), max_threads());
        assert_eq!(install(Some(1_000_000), rayon::current_num_threads), max_threads());
        for n in 1..=40 {
            install(Some(n), rayon::current_num_threads);
        }
        let kept = POOLS.lock().unwrap_or_else(|e| e.into_inner()).len();
        assert!(kept <= POOLS_KEPT, "{kept} pools kept");
    }
}
