//! Returning freed heap memory to the operating system between phases.
//!
//! glibc keeps freed small blocks mapped, while large new blocks come from fresh mappings,
//! so after word counting frees its many small tables, training's big arrays would sit on
//! top of megabytes of resident-but-unused heap. [`release_free_memory`] asks glibc to give
//! those pages back (`malloc_trim`); elsewhere it does nothing.

use crate::error::{Error, Result};

/// Releases free heap pages to the OS where the allocator supports it (glibc).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only returns unused pages of glibc's heap to the kernel; it
        // takes no pointers and is safe to call at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Below this many bytes a request is not probed (it costs more than it guards).
const PROBED: usize = 1 << 26;

/// Whether `count` values of `size` bytes each can be allocated now (`None`: a count that
/// overflowed): else an error naming `what`, so that the caller fails with a typed error
/// instead of the process aborting on the allocation itself (a length or a padding past
/// any memory). Requests under 64 MiB are taken as they come; larger ones are reserved
/// once and given back (address space only: no page is touched).
pub fn check_room(count: Option<usize>, size: usize, what: &str) -> Result<()> {
    let bytes = count.and_then(|c| c.checked_mul(size));
    match bytes {
        Some(b) if b < PROBED || Vec::<u8>::new().try_reserve_exact(b).is_ok() => Ok(()),
        _ => Err(Error::Config(format!(
            "{what} would need {}, more memory than can be allocated; use smaller batches, \
             a shorter length or less padding",
            bytes.map_or_else(
                || "more than 2^64 bytes".to_string(),
                |b| { format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)) }
            )
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::check_room;

    #[test]
    fn room_is_refused_past_memory_and_on_overflow() {
        assert!(check_room(Some(1000), 8, "a small array").is_ok());
        let huge = check_room(Some(1 << 50), 8, "a huge array").unwrap_err().to_string();
        assert!(huge.starts_with("a huge array would need 8388608.0 GiB"), "{huge}");
        let past = check_room(None, 8, "an overflow").unwrap_err().to_string();
        assert!(past.contains("more than 2^64 bytes"), "{past}");
        assert!(check_room(Some(usize::MAX), 2, "x").is_err()); // the bytes overflow
    }
}
