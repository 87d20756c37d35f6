//! Prefetching packet bytes that are about to be rewritten.
//!
//! Contract: [`prefetch_for_write`] asks for every 64-byte line of a slice in a state that
//! lets this core write it; it never faults, changes no byte, and costs one instruction per
//! line. On a CPU without PREFETCHW it falls back to a plain read prefetch.
//!
//! Why write intent: a packet's bytes were last written by another core (a memif peer, or
//! the core that filled the buffer last time round), so each line sits modified in that
//! core's cache. A read brings the line over shared and the first store then has to
//! invalidate the other copy: two trips between cores per line. ESP seals in place and the
//! pipeline rewrites headers, so every line it reads it also writes; fetching it for
//! ownership up front makes that one trip, and asking for a whole packet at once lets the
//! trips overlap instead of stalling the cipher line by line.

use std::sync::atomic::{AtomicU8, Ordering};

/// The cache line size of every x86-64 processor DPDK supports.
const LINE: usize = 64;

const UNKNOWN: u8 = 0;
const WITH_PREFETCHW: u8 = 1;
const READ_ONLY: u8 = 2;

/// Whether this CPU has PREFETCHW, found out on first use.
static PREFETCHW: AtomicU8 = AtomicU8::new(UNKNOWN);

#[inline]
fn has_prefetchw() -> bool {
    match PREFETCHW.load(Ordering::Relaxed) {
        WITH_PREFETCHW => true,
        READ_ONLY => false,
        _ => {
            let has = detect();
            PREFETCHW.store(
                if has { WITH_PREFETCHW } else { READ_ONLY },
                Ordering::Relaxed,
            );
            has
        }
    }
}

/// CPUID leaf 0x8000_0001, ECX bit 8: PREFETCHW (AMD's "3DNowPrefetch", Intel's PRFCHW; std's
/// feature detection does not name it).
#[cfg(target_arch = "x86_64")]
fn detect() -> bool {
    use std::arch::x86_64::__cpuid;
    const EXTENDED_FEATURES: u32 = 0x8000_0001;
    const PRFCHW: u32 = 1 << 8;
    __cpuid(0x8000_0000).eax >= EXTENDED_FEATURES && __cpuid(EXTENDED_FEATURES).ecx & PRFCHW != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> bool {
    false
}

/// Prefetches every cache line `bytes` touches, for writing where the CPU can.
#[inline]
pub fn prefetch_for_write(bytes: &[u8]) {
    prefetch_range_for_write(bytes.as_ptr(), bytes.len());
}

/// Prefetches the lines of `len` bytes from `start`; the address need not be valid (a
/// prefetch never faults), so an mbuf's headroom can be named without making a slice of it.
#[inline]
pub(crate) fn prefetch_range_for_write(start: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // From the line holding the first byte to the one holding the last.
    let first = (start as usize) & !(LINE - 1);
    let last = (start as usize).wrapping_add(len - 1);
    let write = has_prefetchw();
    let mut line = first;
    while line <= last {
        prefetch_line(line as *const u8, write);
        line += LINE;
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_line(p: *const u8, write: bool) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    if write {
        // SAFETY: PREFETCHW is a hint: it cannot fault on any address, writes nothing and
        // reads nothing architecturally; it runs only where CPUID reported it (prfchw).
        unsafe {
            std::arch::asm!(
                "prefetchw [{p}]",
                p = in(reg) p,
                options(nostack, preserves_flags, readonly)
            );
        }
    } else {
        // SAFETY: a prefetch cannot fault on any address and changes no memory; SSE is part of
        // x86-64's baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch_line(_p: *const u8, _write: bool) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_every_byte_as_it_was() {
        let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
        let before = bytes.clone();
        for (start, len) in [(0, 0), (0, 1), (3, 61), (63, 2), (1, 1400), (100, 3996)] {
            prefetch_for_write(&bytes[start..start + len]);
        }
        assert_eq!(bytes, before);
    }

    #[test]
    fn detection_is_remembered() {
        let first = has_prefetchw();
        assert_ne!(PREFETCHW.load(Ordering::Relaxed), UNKNOWN);
        assert_eq!(has_prefetchw(), first);
    }
}
