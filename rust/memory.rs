//! Returning freed heap memory to the operating system between phases.
//!
//! glibc keeps freed small blocks mapped, while large new blocks come from fresh mappings,
//! so after word counting frees its many small tables, training's big arrays would sit on
//! top of megabytes of resident-but-unused heap. [`release_free_memory`] asks glibc to give
//! those pages back (`malloc_trim`); elsewhere it does nothing.

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
