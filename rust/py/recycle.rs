//! NumPy arrays whose memory goes back to a small pool when Python frees them.
//!
//! A training loop masks a fresh batch every step and drops the previous one. Fresh
//! allocations of a few hundred KiB come from `mmap`, so every step would fault in new
//! pages, which for a 256 × 128 batch costs more than the masking itself. Arrays made here
//! keep their buffer in a [`Recycled`] owner; when the array dies the buffer returns to the
//! pool (at most [`MAX_BUFFERS`] buffers and [`MAX_BYTES`] in all) and the next call of
//! the same size reuses it, pages already mapped.

use std::sync::Mutex;

use numpy::ndarray::ArrayView2;
use numpy::{Element, PyArray2};
use pyo3::prelude::*;

const MAX_BUFFERS: usize = 16;
const MAX_BYTES: usize = 64 << 20;

static POOL: Mutex<Vec<Box<[u64]>>> = Mutex::new(Vec::new());

/// An integer element type that any bit pattern is a valid value of.
pub(crate) trait Plain: Element + Copy {}
impl Plain for i64 {}
impl Plain for i32 {}
impl Plain for u32 {}
impl Plain for u16 {}
impl Plain for u8 {}

/// A buffer of `len` elements of `T`, reused from the pool when one of that size is there
/// (its contents are then stale: the caller overwrites every element).
pub(crate) struct Buffer<T> {
    words: Box<[u64]>,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Plain> Buffer<T> {
    pub(crate) fn take(len: usize) -> Buffer<T> {
        let n_words = (len * std::mem::size_of::<T>()).div_ceil(8);
        let reused = {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            pool.iter().position(|b| b.len() == n_words).map(|i| pool.swap_remove(i))
        };
        let words = reused.unwrap_or_else(|| vec![0u64; n_words].into_boxed_slice());
        Buffer { words, len, _t: std::marker::PhantomData }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: the words hold at least `len` elements of `T` (`size_of::<T>() <= 8`
        // divides the byte length we allocated), u64 alignment suffices for `T`, and every
        // bit pattern is a valid `T` (`Plain`).
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<T>(), self.len) }
    }

    /// The buffer as a writeable (rows, cols) NumPy array that owns it.
    pub(crate) fn into_array<'py>(
        self,
        py: Python<'py>,
        rows: usize,
        cols: usize,
    ) -> PyResult<Bound<'py, PyArray2<T>>> {
        assert_eq!(rows * cols, self.len, "array shape does not match the buffer");
        let ptr = self.words.as_ptr().cast::<T>();
        let owner = Bound::new(py, Recycled { words: self.words })?;
        // SAFETY: `ptr` points at `rows × cols` initialised elements owned by `owner`'s
        // boxed slice, which never moves or reallocates and lives as long as the array
        // (the owner is the array's base object).
        unsafe {
            let view = ArrayView2::from_shape_ptr((rows, cols), ptr);
            Ok(PyArray2::borrow_from_array(&view, owner.into_any()))
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
        let bytes = words.len() * 8;
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = pool.iter().map(|b| b.len() * 8).sum();
        if pool.len() < MAX_BUFFERS && held + bytes <= MAX_BYTES {
            pool.push(words);
        }
    }
}
