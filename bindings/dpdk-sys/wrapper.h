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

/*
 * intel-ipsec-mb, the library behind DPDK's crypto_aesni_gcm device, called directly for
 * AES-GCM sealing: one call per packet instead of the device's glue around init, update and
 * finalize. Its API is macros over function pointers in IMB_MGR; these shims give Rust plain
 * functions. IMB_MGR and the key schedule stay opaque (allocated and freed here).
 */
#include <stdlib.h>
#include <intel-ipsec-mb.h>

/* Made once per process and never freed (see crates/dpdk/src/ipsec_mb.rs). */
static inline IMB_MGR *rri_imb_mgr_new(void)
{
        IMB_MGR *mgr = alloc_mb_mgr(0);
        if (mgr != NULL)
                init_mb_mgr_auto(mgr, NULL);
        return mgr;
}

static inline const char *rri_imb_version(void) { return imb_get_version_str(); }

/* The expanded key and hash key for AES-128 (key_len 16) or AES-256 (32); NULL otherwise. */
static inline struct gcm_key_data *rri_imb_gcm_key_new(IMB_MGR *mgr, const uint8_t *key,
                                                       int key_len)
{
        struct gcm_key_data *data;
        if (key_len != 16 && key_len != 32)
                return NULL;
        data = aligned_alloc(64, (sizeof(*data) + 63) & ~(size_t)63);
        if (data == NULL)
                return NULL;
        if (key_len == 16)
                IMB_AES128_GCM_PRE(mgr, key, data);
        else
                IMB_AES256_GCM_PRE(mgr, key, data);
        return data;
}

static inline void rri_imb_gcm_key_free(struct gcm_key_data *data)
{
        if (data != NULL) {
                /* Key material: cleared before the memory goes back. */
                imb_clear_mem(data, sizeof(*data));
                free(data);
        }
}

/* Seals `len` bytes at `data` in place with a 12-byte IV; writes a 16-byte tag. */
static inline void rri_imb_gcm_seal(IMB_MGR *mgr, const struct gcm_key_data *key, int key_len,
                                    uint8_t *data, uint64_t len, const uint8_t *iv,
                                    const uint8_t *aad, uint64_t aad_len, uint8_t *tag)
{
        struct gcm_context_data ctx;
        if (key_len == 16)
                IMB_AES128_GCM_ENC(mgr, key, &ctx, data, data, len, iv, aad, aad_len, tag, 16);
        else
                IMB_AES256_GCM_ENC(mgr, key, &ctx, data, data, len, iv, aad, aad_len, tag, 16);
}
