/* Temporary: every function not implemented yet returns -ENOSYS. */
#include <errno.h>
#include "ppn/ledger.h"

PPN_EXPORT size_t ppn_ledger_constant(const char *which)
{
    return 0;
}

PPN_EXPORT int ppn_ledger_entry_sign(const struct ppn_ledger_entry *entry, uint64_t index,
                                     const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                     uint8_t *buf, size_t size, size_t *ret_len)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_entry_decode(const uint8_t *data, size_t len,
                                       struct ppn_ledger_entry *ret_entry)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_entry_to_json(const struct ppn_ledger_entry *entry, char **ret_json)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_entry_from_json(const char *json, size_t len,
                                          struct ppn_ledger_entry *ret_entry)
{
    return -ENOSYS;
}

PPN_EXPORT const char * ppn_ledger_entry_type_name(uint32_t type)
{
    return "";
}

PPN_EXPORT int ppn_ledger_create(const char *dir, const char *origin, const char *mesh_range,
                                 const uint8_t admin_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                 ppn_ledger **ret_ledger)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_open(const char *dir, uint32_t flags, ppn_ledger **ret_ledger)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_open_full(const char *dir, uint32_t flags,
                                    struct ppn_ledger_report *report, ppn_ledger **ret_ledger)
{
    return -ENOSYS;
}

PPN_EXPORT void ppn_ledger_free(ppn_ledger *ledger)
{
    
}

PPN_EXPORT uint64_t ppn_ledger_size(const ppn_ledger *ledger)
{
    return 0;
}

PPN_EXPORT const char * ppn_ledger_origin(const ppn_ledger *ledger)
{
    return "";
}

PPN_EXPORT const char * ppn_ledger_mesh_range(const ppn_ledger *ledger)
{
    return "";
}

PPN_EXPORT const char * ppn_ledger_dir(const ppn_ledger *ledger)
{
    return "";
}

PPN_EXPORT int ppn_ledger_root(ppn_ledger *ledger, uint64_t size,
                               uint8_t ret_root[PPN_LEDGER_HASH_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_get(ppn_ledger *ledger, uint64_t index, struct ppn_ledger_entry *ret_entry)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_get_raw(ppn_ledger *ledger, uint64_t index, uint8_t *buf, size_t size,
                                  size_t *ret_len)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_leaf_hash(ppn_ledger *ledger, uint64_t index,
                                    uint8_t ret_hash[PPN_LEDGER_HASH_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_append(ppn_ledger *ledger, const struct ppn_ledger_entry *entries,
                                 size_t n, const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                 uint64_t *ret_first_index)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_append_signed(ppn_ledger *ledger, const uint8_t *const *entries,
                                        const size_t *lens, size_t n, uint64_t *ret_first_index)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_node_join(ppn_ledger *ledger,
                                    const uint8_t identity_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                    const uint8_t wg_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                    const char *mesh_address, const char *endpoint,
                                    const char *hostname,
                                    const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                    uint64_t *ret_index)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_node_revoke(ppn_ledger *ledger,
                                      const uint8_t identity_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                      const char *reason,
                                      const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                      uint64_t *ret_index)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_cap_grant(ppn_ledger *ledger,
                                    const uint8_t subject_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                    const char *capability, const char *scope,
                                    const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                    uint64_t *ret_index)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_cap_revoke(ppn_ledger *ledger,
                                     const uint8_t subject_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                     const char *capability, const char *scope,
                                     const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                     uint64_t *ret_index)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_vm_assign(ppn_ledger *ledger, const char *vm_name,
                                    const uint8_t node_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                    const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                    uint64_t *ret_index)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_supersede(ppn_ledger *ledger, uint64_t target,
                                    const struct ppn_ledger_entry *replacement,
                                    const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                    uint64_t *ret_index)
{
    return -ENOSYS;
}

PPN_EXPORT size_t ppn_ledger_member_count(const ppn_ledger *ledger)
{
    return 0;
}

PPN_EXPORT int ppn_ledger_member_get(const ppn_ledger *ledger, size_t i,
                                     struct ppn_ledger_member *ret_member)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_member_find(const ppn_ledger *ledger,
                                      const uint8_t identity_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                      struct ppn_ledger_member *ret_member)
{
    return -ENOSYS;
}

PPN_EXPORT size_t ppn_ledger_grant_count(const ppn_ledger *ledger)
{
    return 0;
}

PPN_EXPORT int ppn_ledger_grant_get(const ppn_ledger *ledger, size_t i,
                                    struct ppn_ledger_grant *ret_grant)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_has_capability(const ppn_ledger *ledger,
                                         const uint8_t key[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                         const char *capability, const char *scope)
{
    return -ENOSYS;
}

PPN_EXPORT size_t ppn_ledger_assignment_count(const ppn_ledger *ledger)
{
    return 0;
}

PPN_EXPORT int ppn_ledger_assignment_get(const ppn_ledger *ledger, size_t i,
                                         struct ppn_ledger_assignment *ret_assignment)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_assignment_find(const ppn_ledger *ledger, const char *vm_name,
                                          struct ppn_ledger_assignment *ret_assignment)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_export_nodes(ppn_ledger *ledger, const char *path)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_checkpoint(ppn_ledger *ledger,
                                     const uint8_t signer_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                     char *buf, size_t size, size_t *ret_len)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_checkpoint_get(ppn_ledger *ledger, char *buf, size_t size,
                                         size_t *ret_len)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_checkpoint_verify(const char *note, size_t len, const char *origin,
                                            const uint8_t pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                            uint64_t *ret_size,
                                            uint8_t ret_root[PPN_LEDGER_HASH_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT uint32_t ppn_ledger_note_key_id(const char *name,
                                           const uint8_t pk[PPN_LEDGER_PUBLIC_KEY_BYTES])
{
    return 0;
}

PPN_EXPORT int ppn_ledger_prove_inclusion(ppn_ledger *ledger, uint64_t index, uint64_t size,
                                          uint8_t *proof, size_t max, size_t *ret_count)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_prove_consistency(ppn_ledger *ledger, uint64_t old_size,
                                            uint64_t new_size, uint8_t *proof, size_t max,
                                            size_t *ret_count)
{
    return -ENOSYS;
}

PPN_EXPORT void ppn_ledger_merkle_leaf_hash(const uint8_t *data, size_t len,
                                            uint8_t ret_hash[PPN_LEDGER_HASH_BYTES])
{
    
}

PPN_EXPORT int ppn_ledger_merkle_verify_inclusion(const uint8_t leaf_hash[PPN_LEDGER_HASH_BYTES],
                                                  uint64_t index, uint64_t size,
                                                  const uint8_t *proof, size_t count,
                                                  const uint8_t root[PPN_LEDGER_HASH_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                                                    const uint8_t old_root[PPN_LEDGER_HASH_BYTES],
                                                    const uint8_t new_root[PPN_LEDGER_HASH_BYTES],
                                                    const uint8_t *proof, size_t count)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_verify(ppn_ledger *ledger, unsigned threads,
                                 struct ppn_ledger_report *report)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_ledger_import(ppn_ledger *ledger, const char *src_dir,
                                 struct ppn_ledger_import_report *report)
{
    return -ENOSYS;
}
