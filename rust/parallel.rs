//! The one thread-pool policy of the crate.
//!
//! Every parallel entry point takes `num_threads: Option<usize>` and runs its rayon work
//! inside [`install`]. `None` (or 0) means: the `LEXFORGE_NUM_THREADS` environment variable
//! if set, else the number of available cores. Pools are built once per (process, size) and
//! reused; a process id check rebuilds them after `fork`, whose children inherit the pool
//! objects but not their threads. Results never depend on the thread count: work is split
//! into chunks whose results are combined in a fixed order, and randomness (elsewhere) is
//! seeded per item.

use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Environment variable that sets the default number of threads.
pub const THREADS_ENV: &str = "LEXFORGE_NUM_THREADS";

/// The number of threads a call asking for `requested` gets.
pub fn resolve_threads(requested: Option<usize>) -> usize {
    if let Some(n) = requested.filter(|&n| n > 0) {
        return n;
    }
    if let Some(n) = std::env::var(THREADS_ENV).ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        if n > 0 {
            return n;
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `f` inside a pool of `resolve_threads(requested)` threads.
pub fn install<R: Send>(requested: Option<usize>, f: impl FnOnce() -> R + Send) -> R {
    let n = resolve_threads(requested);
    match pool(n) {
        Some(pool) => pool.install(f),
        None => f(), // no pool could be built: run on the calling thread
    }
}

fn pool(n: usize) -> Option<Arc<ThreadPool>> {
    type Pools = Vec<(u32, usize, Arc<ThreadPool>)>;
    static POOLS: Mutex<Pools> = Mutex::new(Vec::new());
    let pid = std::process::id();
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if pools.iter().any(|(p, _, _)| *p != pid) {
        // forked: the inherited pools have no threads; forget them without joining
        for (_, _, stale) in pools.drain(..) {
            std::mem::forget(stale);
        }
    }
    if let Some((_, _, p)) = pools.iter().find(|(_, size, _)| *size == n) {
        return Some(p.clone());
    }
    let built = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("lexforge-{i}"))
        .build()
        .ok()?;
    let built = Arc::new(built);
    pools.push((pid, n, built.clone()));
    Some(built)
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
    fn pools_have_the_requested_size() {
        for n in [1, 2, 3] {
            assert_eq!(install(Some(n), rayon::current_num_threads), n);
        }
        let sum: u64 = install(Some(2), || (0..1000u64).into_par_iter().sum());
        assert_eq!(sum, 499_500);
    }
}
