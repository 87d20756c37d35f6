//! Raw bindings to the system DPDK 22.11, generated at build time by bindgen.
//!
//! Everything here is `unsafe` to call and follows DPDK's C contracts; the safe layer is the
//! `dpdk` crate. DPDK's `static inline` functions are reachable under their own names through
//! wrappers that bindgen generates (`wrap_static_fns`) and `build.rs` compiles, so
//! `rte_eth_rx_burst`, `rte_pktmbuf_alloc`, `rte_lcore_id`, `rte_rdtsc` and the like are
//! ordinary `extern "C"` functions here. `rri_rte_errno` reads DPDK's thread-local `rte_errno`.
//!
//! bindgen also emits layout assertions for every struct, checked when this crate compiles.

#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    unnecessary_transmutes,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block,
    missing_debug_implementations,
    rustdoc::all
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
