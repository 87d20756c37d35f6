/*
 * intel-ipsec-mb's AES-GCM for rri, called directly: one call per packet. The library's API
 * is macros over function pointers in IMB_MGR; these shims give Rust plain functions. IMB_MGR
 * and the key schedule stay opaque to Rust (allocated and freed here).
 */
#include <stdlib.h>
#include <intel-ipsec-mb.h>

/* Made once per process and never freed (see crates/gcm/src/ipsec_mb.rs). */
IMB_MGR *rri_imb_mgr_new(void)
{
        IMB_MGR *mgr = alloc_mb_mgr(0);
        if (mgr != NULL)
                init_mb_mgr_auto(mgr, NULL);
        return mgr;
}

const char *rri_imb_version(void) { return imb_get_version_str(); }

/* The expanded key and hash key for AES-128 (key_len 16) or AES-256 (32); NULL otherwise. */
struct gcm_key_data *rri_imb_gcm_key_new(IMB_MGR *mgr, const uint8_t *key, int key_len)
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

void rri_imb_gcm_key_free(struct gcm_key_data *data)
{
        if (data != NULL) {
                /* Key material: cleared before the memory goes back. */
                imb_clear_mem(data, sizeof(*data));
                free(data);
        }
}

/* Seals `len` bytes at `data` in place with a 12-byte IV; writes a 16-byte tag. */
void rri_imb_gcm_seal(IMB_MGR *mgr, const struct gcm_key_data *key, int key_len,
                      uint8_t *data, uint64_t len, const uint8_t *iv, const uint8_t *aad,
                      uint64_t aad_len, uint8_t *tag)
{
        struct gcm_context_data ctx;
        if (key_len == 16)
                IMB_AES128_GCM_ENC(mgr, key, &ctx, data, data, len, iv, aad, aad_len, tag, 16);
        else
                IMB_AES256_GCM_ENC(mgr, key, &ctx, data, data, len, iv, aad, aad_len, tag, 16);
}

/*
 * Deciphers `len` bytes at `data` in place with a 12-byte IV and writes the tag it computes
 * (16 bytes) to `computed`; the caller compares it with the received one.
 */
void rri_imb_gcm_open(IMB_MGR *mgr, const struct gcm_key_data *key, int key_len,
                      uint8_t *data, uint64_t len, const uint8_t *iv, const uint8_t *aad,
                      uint64_t aad_len, uint8_t *computed)
{
        struct gcm_context_data ctx;
        if (key_len == 16)
                IMB_AES128_GCM_DEC(mgr, key, &ctx, data, data, len, iv, aad, aad_len, computed, 16);
        else
                IMB_AES256_GCM_DEC(mgr, key, &ctx, data, data, len, iv, aad, aad_len, computed, 16);
}
