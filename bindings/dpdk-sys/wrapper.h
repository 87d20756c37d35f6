/*
 * The DPDK surface rri binds. bindgen reads this header; every `static inline`
 * function it reaches (rx/tx burst, mbuf helpers, lcore id, rdtsc, prefetch...)
 * gets a generated out-of-line wrapper in OUT_DIR/dpdk_static_fns.c.
 */
#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <rte_memory.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_bus_vdev.h>
#include <rte_cryptodev.h>
#include <rte_lpm.h>
#include <rte_version.h>

/*
 * rte_errno is a thread-local variable behind a macro; Rust cannot name a C
 * thread-local on stable. Declaring the accessors `static inline` here lets the
 * same generated-wrapper path that serves DPDK's inline functions expose them.
 */
static inline int rri_rte_errno(void) { return rte_errno; }
static inline void rri_rte_errno_set(int value) { rte_errno = value; }
