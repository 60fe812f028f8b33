//! NumPy arrays whose memory goes back to a small pool when Python frees them.
//!
//! A training loop masks or tokenizes a fresh batch every step and drops the previous
//! one. Buffers of a few hundred KiB or more come from `mmap`, or from the top of the heap
//! that `free` hands back to the kernel, so every step would fault in new pages: for a
//! 256 × 128 masking batch that costs more than the masking, and tokenizing 1,000 texts
//! to padded (1000, 512) arrays ran at a third of its speed. Arrays made here keep their
//! buffer in a [`Recycled`] owner; when the array dies the buffer returns to the pool (the
//! newest [`MAX_BUFFERS`] buffers, [`MAX_BYTES`] in all) and a later call of the same size,
//! or up to twice it, reuses it with its pages already mapped.
//!
//! The pool is only ever tried (`try_lock`): a thread that finds it busy allocates or frees
//! as if it were not there, and a child forked while another thread held the lock never
//! waits on it.

use std::sync::{Mutex, MutexGuard, TryLockError};

use numpy::ndarray::{ArrayView, Dimension, IntoDimension};
use numpy::{Element, PyArray};
use pyo3::prelude::*;

const MAX_BUFFERS: usize = 16;
const MAX_BYTES: usize = 64 << 20;
/// Smaller buffers are left to the allocator, whose bins reuse them well.
const MIN_BYTES: usize = 16 << 10;

static POOL: Mutex<Vec<Box<[u64]>>> = Mutex::new(Vec::new());

/// The pool, oldest buffer first, unless another thread holds it.
fn pool() -> Option<MutexGuard<'static, Vec<Box<[u64]>>>> {
    match POOL.try_lock() {
        Ok(pool) => Some(pool),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// An integer element type that any bit pattern is a valid value of.
pub(crate) trait Plain: Element + Copy {}
impl Plain for i64 {}
impl Plain for i32 {}
impl Plain for u32 {}
impl Plain for u16 {}
impl Plain for u8 {}

/// A buffer of `len` elements of `T`, reused from the pool when one of that size (or up to
/// twice it) is there: its contents are then stale, and the caller overwrites every
/// element.
pub(crate) struct Buffer<T> {
    words: Box<[u64]>,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Plain> Buffer<T> {
    pub(crate) fn take(len: usize) -> Buffer<T> {
        let n_words = (len * std::mem::size_of::<T>()).div_ceil(8);
        let small = n_words * 8 < MIN_BYTES;
        let reused = if small { None } else { pool() }.and_then(|mut pool| {
            // the smallest that holds it, and not more than twice it
            let fits = |b: &[u64]| b.len() >= n_words && b.len() / 2 <= n_words;
            let best = (0..pool.len()).filter(|&i| fits(&pool[i])).min_by_key(|&i| pool[i].len());
            best.map(|i| pool.remove(i))
        });
        let words = reused.unwrap_or_else(|| vec![0u64; n_words].into_boxed_slice());
        Buffer { words, len, _t: std::marker::PhantomData }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: the words hold at least `len` elements of `T` (`size_of::<T>() <= 8`
        // divides the byte length we allocated), u64 alignment suffices for `T`, and every
        // bit pattern is a valid `T` (`Plain`).
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<T>(), self.len) }
    }

    /// The buffer as a writeable C-order NumPy array of `shape` that owns it.
    pub(crate) fn into_array<'py, D: Dimension>(
        self,
        py: Python<'py>,
        shape: impl IntoDimension<Dim = D>,
    ) -> PyResult<Bound<'py, PyArray<T, D>>> {
        let shape = shape.into_dimension();
        if shape.size_checked() != Some(self.len) {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "array shape {:?} does not match its buffer of {} elements",
                shape.slice(),
                self.len
            )));
        }
        let ptr = self.words.as_ptr().cast::<T>();
        let owner = Bound::new(py, Recycled { words: self.words })?;
        // SAFETY: `ptr` points at `len` (the shape's size) initialised elements owned by
        // `owner`'s boxed slice, which never moves or reallocates and lives as long as the
        // array (the owner is the array's base object).
        unsafe {
            let view = ArrayView::from_shape_ptr(shape, ptr);
            Ok(PyArray::borrow_from_array(&view, owner.into_any()))
        }
    }
}

/// The owner (NumPy base object) of a recycled array's memory.
#[pyclass(module = "lexforge._core")]
pub(crate) struct Recycled {
    words: Box<[u64]>,
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let words = std::mem::take(&mut self.words);
        if !(MIN_BYTES..=MAX_BYTES).contains(&(words.len() * 8)) {
            return;
        }
        let Some(mut pool) = pool() else { return };
        // the newest are kept: the sizes a loop asks for now, not those of an earlier one
        pool.push(words);
        let mut held: usize = pool.iter().map(|b| b.len() * 8).sum();
        let mut old = 0;
        while pool.len() - old > MAX_BUFFERS || held > MAX_BYTES {
            held -= pool[old].len() * 8;
            old += 1;
        }
        let evicted: Vec<Box<[u64]>> = pool.drain(..old).collect();
        drop(pool);
        drop(evicted); // freed outside the lock
    }
}
