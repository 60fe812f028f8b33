//! A small per-thread cache of recent pre-tokens (BPE) or words (WordPiece) and their ids,
//! in front of the vocabulary lookups and the merge or matching loops.
//!
//! Text is Zipfian: a few thousand distinct pre-tokens make up most of any corpus, and the
//! vocabulary map (hundreds of thousands of entries, megabytes) misses the CPU caches on
//! nearly every lookup. The cache is direct-mapped, 8192 slots of 48 bytes (fits in L2),
//! keyed by the piece packed into a `u128` (pieces of up to 15 bytes whose encoding has at
//! most 6 ids, each with one byte of model data: WordPiece keeps character lengths there).
//! A thread's cache belongs to one model at a time and is cleared when the thread encodes
//! with another. It never changes results, only their cost.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bpe::index::pack128;

const SLOTS: usize = 8192;
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
    static CACHE: RefCell<PieceCache> = RefCell::new(PieceCache { owner: 0, slots: Box::default() });
}

#[inline(always)]
fn slot_of(key: u128) -> usize {
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write_u128(key);
    (h.finish() >> 40) as usize & (SLOTS - 1)
}

impl PieceCache {
    /// Runs `f` with this thread's cache, emptied first if it belonged to another model.
    pub(crate) fn with<R>(model: u64, f: impl FnOnce(&mut PieceCache) -> R) -> R {
        CACHE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut cache) => {
                if cache.owner != model || cache.slots.is_empty() {
                    cache.owner = model;
                    cache.slots = vec![Slot::default(); SLOTS].into_boxed_slice();
                }
                f(&mut cache)
            }
            // re-entered on this thread (cannot happen today): work without a cache
            Err(_) => f(&mut PieceCache { owner: model, slots: Box::default() }),
        })
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
