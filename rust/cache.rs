//! A small per-thread cache of recent pre-tokens (BPE) or words (WordPiece) and their ids,
//! in front of the vocabulary lookups and the merge or matching loops.
//!
//! Text is Zipfian: a few thousand distinct pre-tokens make up most of any corpus, and the
//! vocabulary map (hundreds of thousands of entries, megabytes) misses the CPU caches on
//! nearly every lookup. The cache is direct-mapped, 8192 slots of 48 bytes (fits in L2),
//! keyed by the piece packed into a `u128` (pieces of up to 15 bytes whose encoding has at
//! most 6 ids, each with one byte of model data: WordPiece keeps character lengths there).
//! A thread keeps a cache for each of the last [`MODELS_KEPT`] models it encoded with (a
//! thread that alternates two tokenizers keeps both warm; a third model takes the least
//! recently used one's, cleared). It never changes results, only their cost.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bpe::index::pack128;

const SLOTS: usize = 8192;
/// Models a thread keeps a cache for (384 KiB each).
const MODELS_KEPT: usize = 2;
/// Longest pre-token, in bytes, the cache holds.
pub(crate) const MAX_PIECE: usize = 15;
/// Most ids a cached pre-token may encode to.
pub(crate) const MAX_IDS: usize = 6;

#[derive(Clone, Copy, Default)]
struct Slot {
    key: u128, // 0: empty (a packed key holds its non-zero length in the top byte)
    len: u8,
    aux: [u8; MAX_IDS],
    ids: [u32; MAX_IDS],
}

/// One thread's cache.
pub(crate) struct PieceCache {
    owner: u64,
    slots: Box<[Slot]>,
}

static NEXT_MODEL: AtomicU64 = AtomicU64::new(1);

/// A fresh identity for a model, so caches never mix two models' ids.
pub(crate) fn new_model_id() -> u64 {
    NEXT_MODEL.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    /// This thread's caches, most recently used first.
    static CACHES: RefCell<Vec<PieceCache>> = const { RefCell::new(Vec::new()) };
}

#[inline(always)]
fn slot_of(key: u128) -> usize {
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write_u128(key);
    (h.finish() >> 40) as usize & (SLOTS - 1)
}

impl PieceCache {
    /// Runs `f` with this thread's cache for `model`: kept from its last use, else a new
    /// one (taking the least recently used one's place when [`MODELS_KEPT`] are kept).
    /// The cache is taken out of the thread's list while `f` runs, so nothing is borrowed
    /// across it.
    pub(crate) fn with<R>(model: u64, f: impl FnOnce(&mut PieceCache) -> R) -> R {
        let taken = CACHES.try_with(|cell| {
            let mut caches = cell.try_borrow_mut().ok()?;
            let i = caches.iter().position(|c| c.owner == model)?;
            Some(caches.remove(i))
        });
        let mut cache = match taken {
            Ok(Some(cache)) => cache,
            Ok(None) => PieceCache { owner: model, slots: vec![Slot::default(); SLOTS].into() },
            // the thread is exiting: work without a cache (every lookup misses)
            Err(_) => PieceCache { owner: model, slots: Box::default() },
        };
        let result = f(&mut cache);
        if !cache.slots.is_empty() {
            let _ = CACHES.try_with(|cell| {
                if let Ok(mut caches) = cell.try_borrow_mut() {
                    caches.insert(0, cache);
                    caches.truncate(MODELS_KEPT);
                }
            });
        }
        result
    }

    /// The packed key of `piece` (at most [`MAX_PIECE`] bytes).
    #[inline(always)]
    pub(crate) fn key(piece: &[u8]) -> u128 {
        pack128(piece)
    }

    /// The cached ids (and per-id model data) of the piece packed as `key`.
    #[inline(always)]
    pub(crate) fn get(&self, key: u128) -> Option<(&[u32], &[u8])> {
        let slot = self.slots.get(slot_of(key))?;
        (slot.key == key).then(|| (&slot.ids[..slot.len as usize], &slot.aux[..slot.len as usize]))
    }

    /// Remembers the ids (and per-id model data, empty or one byte per id) of a piece.
    #[inline(always)]
    pub(crate) fn put(&mut self, key: u128, ids: &[u32], aux: &[u8]) {
        if ids.len() <= MAX_IDS {
            if let Some(slot) = self.slots.get_mut(slot_of(key)) {
                slot.key = key;
                slot.len = ids.len() as u8;
                slot.ids[..ids.len()].copy_from_slice(ids);
                slot.aux[..aux.len()].copy_from_slice(aux);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_the_last_two_models_caches() {
        let key = PieceCache::key(b"hello");
        let (a, b, c) = (new_model_id(), new_model_id(), new_model_id());
        let cached = |model| PieceCache::with(model, |cache| cache.get(key).is_some());
        PieceCache::with(a, |cache| cache.put(key, &[1], &[]));
        PieceCache::with(b, |cache| cache.put(key, &[2], &[]));
        // alternating two models keeps both, each with its own ids
        assert_eq!(
            PieceCache::with(a, |cache| cache.get(key).map(|(ids, _)| ids.to_vec())),
            Some(vec![1])
        );
        assert_eq!(
            PieceCache::with(b, |cache| cache.get(key).map(|(ids, _)| ids.to_vec())),
            Some(vec![2])
        );
        // a third model takes the least recently used one's place (a's)
        assert!(!cached(c));
        assert!(cached(b));
        assert!(!cached(a));
    }
}
