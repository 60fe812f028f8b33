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
/// any memory). Requests under 64 MiB are taken as they come; larger ones must fit the
/// memory the system says is available (Linux: `MemAvailable`, and a cgroup's limit), and
/// are reserved once and given back (address space only: no page is touched). The
/// reservation alone let through what overcommit grants and filling kills: 21.6 GiB of
/// overflow rows on a 24 GiB machine.
pub fn check_room(count: Option<usize>, size: usize, what: &str) -> Result<()> {
    let bytes = count.and_then(|c| c.checked_mul(size));
    let fits = |b: usize| {
        available().is_none_or(|free| b <= free) && Vec::<u8>::new().try_reserve_exact(b).is_ok()
    };
    match bytes {
        Some(b) if b < PROBED || fits(b) => Ok(()),
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

/// The bytes the system can give now, where it says (Linux): `MemAvailable` of
/// /proc/meminfo, or less where a cgroup (v2) caps this process's group lower.
fn available() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let mut free =
        kib.trim().trim_end_matches("kB").trim().parse::<usize>().ok()?.checked_mul(1024)?;
    let read = |name: &str| {
        let text = std::fs::read_to_string(format!("/sys/fs/cgroup/{name}")).ok()?;
        text.trim().parse::<usize>().ok() // ("max": no limit)
    };
    if let (Some(limit), Some(used)) = (read("memory.max"), read("memory.current")) {
        free = free.min(limit.saturating_sub(used));
    }
    Some(free)
}

#[cfg(test)]
mod tests {
    use super::{available, check_room};

    #[test]
    fn room_is_refused_past_memory_and_on_overflow() {
        assert!(check_room(Some(1000), 8, "a small array").is_ok());
        let huge = check_room(Some(1 << 50), 8, "a huge array").unwrap_err().to_string();
        assert!(huge.starts_with("a huge array would need 8388608.0 GiB"), "{huge}");
        let past = check_room(None, 8, "an overflow").unwrap_err().to_string();
        assert!(past.contains("more than 2^64 bytes"), "{past}");
        assert!(check_room(Some(usize::MAX), 2, "x").is_err()); // the bytes overflow
    }

    #[test]
    fn room_past_the_available_memory_is_refused_though_overcommit_would_grant_it() {
        if let Some(free) = available() {
            // (an address-space reservation of this size succeeds under overcommit)
            assert!(check_room(Some(free + (1 << 30)), 1, "more than free").is_err());
            assert!(check_room(Some(free / 4), 1, "a quarter of it").is_ok());
        }
    }
}
