//! DPDK's `rte_lpm` (DIR-24-8), wrapped so that benchmarks can hold rri's own LPM against it.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::DpdkError;
use crate::{sys, Eal};

/// An `rte_lpm` table: 24-bit direct table plus 8-bit extension groups.
#[derive(Debug)]
pub struct RteLpm {
    lpm: NonNull<sys::rte_lpm>,
    tbl8s: u32,
    max_rules: u32,
    _eal: Eal,
}

static LPM_SEQ: AtomicU32 = AtomicU32::new(0);

impl RteLpm {
    /// Creates a table for up to `max_rules` prefixes with `tbl8s` extension groups.
    ///
    /// # Errors
    /// When DPDK cannot allocate it.
    pub fn new(eal: &Eal, max_rules: u32, tbl8s: u32) -> Result<RteLpm, DpdkError> {
        let name = CString::new(format!(
            "rri_lpm_{}",
            LPM_SEQ.fetch_add(1, Ordering::Relaxed)
        ))
        .expect("no NUL in a generated name");
        let config = sys::rte_lpm_config {
            max_rules,
            number_tbl8s: tbl8s,
            flags: 0,
        };
        // SAFETY: the EAL is initialised (we hold it); name and config are valid for the
        // call and DPDK copies what it keeps.
        let lpm = unsafe { sys::rte_lpm_create(name.as_ptr(), eal.socket_id(), &config) };
        let lpm = NonNull::new(lpm).ok_or_else(|| DpdkError::from_rte_errno("rte_lpm_create"))?;
        Ok(RteLpm {
            lpm,
            tbl8s,
            max_rules,
            _eal: eal.clone(),
        })
    }

    /// Adds (or replaces) a prefix. `next_hop` must fit in 24 bits.
    ///
    /// # Errors
    /// When the table is full or the arguments are invalid.
    pub fn add(&mut self, ip: u32, depth: u8, next_hop: u32) -> Result<(), DpdkError> {
        // SAFETY: the table is live and exclusively borrowed; DPDK validates the arguments.
        let ret = unsafe { sys::rte_lpm_add(self.lpm.as_ptr(), ip, depth, next_hop) };
        if ret < 0 {
            return Err(DpdkError::new("rte_lpm_add", ret));
        }
        Ok(())
    }

    /// Removes a prefix.
    ///
    /// # Errors
    /// When the prefix is not in the table.
    pub fn delete(&mut self, ip: u32, depth: u8) -> Result<(), DpdkError> {
        // SAFETY: the table is live and exclusively borrowed.
        let ret = unsafe { sys::rte_lpm_delete(self.lpm.as_ptr(), ip, depth) };
        if ret < 0 {
            return Err(DpdkError::new("rte_lpm_delete", ret));
        }
        Ok(())
    }

    /// Looks one address up.
    #[inline]
    pub fn lookup(&self, ip: u32) -> Option<u32> {
        let mut next_hop = 0u32;
        // SAFETY: the table is live; lookups only read it (no writer holds &mut self).
        let ret = unsafe { sys::rte_lpm_lookup(self.lpm.as_ptr(), ip, &mut next_hop) };
        (ret == 0).then_some(next_hop)
    }

    /// Looks a batch up (`rte_lpm_lookup_bulk`); each result carries
    /// `RTE_LPM_LOOKUP_SUCCESS` when found, as DPDK returns it.
    ///
    /// # Panics
    /// If `out` is shorter than `ips`.
    #[inline]
    pub fn lookup_bulk(&self, ips: &[u32], out: &mut [u32]) {
        assert!(out.len() >= ips.len(), "one result slot per address");
        let n = u32::try_from(ips.len()).expect("batch fits in u32");
        // SAFETY: the table is live and only read; `ips` has n readable and `out` at least n
        // writable elements, as the function requires.
        unsafe {
            sys::rte_lpm_lookup_bulk_func(self.lpm.as_ptr(), ips.as_ptr(), out.as_mut_ptr(), n)
        };
    }

    /// The bytes DPDK allocates for it: the 2^24-entry table, the extension groups of 256
    /// entries, and the rules (4-byte entries, 8-byte rules).
    pub fn memory_bytes(&self) -> usize {
        (1usize << 24) * 4 + self.tbl8s as usize * 256 * 4 + self.max_rules as usize * 8
    }
}

impl Drop for RteLpm {
    fn drop(&mut self) {
        // SAFETY: the table is live and nothing else references it.
        unsafe { sys::rte_lpm_free(self.lpm.as_ptr()) }
    }
}

/// `RTE_LPM_LOOKUP_SUCCESS`: set in a bulk lookup result when the address matched.
pub const LPM_LOOKUP_SUCCESS: u32 = sys::RTE_LPM_LOOKUP_SUCCESS;
