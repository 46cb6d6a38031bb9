/* Fuzz the libraries' one CBOR codec (common/cbor.c, doc/CBOR.md): what it accepts is canonical,
 * so a walk that decodes every item and encodes it again gives back the input byte for byte;
 * anything longer than its shortest form, out of key order or indefinite must be refused. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppn-cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int walk(struct ppnc_cbor_r *r, struct ppnc_cbor_w *w, unsigned depth)
{
    struct ppnc_cbor_r peek = *r;
    unsigned major;
    uint64_t v, n;
    if (depth > 8 || ppnc_cbor_get_head(&peek, &major, &v) < 0)
        return -1;
    switch (major) {
    case PPNC_CBOR_UINT:
        if (ppnc_cbor_get_uint(r, UINT64_MAX, &v) < 0)
            abort(); /* the head said so */
        ppnc_cbor_put_uint(w, v);
        return 0;
    case PPNC_CBOR_BYTES: {
        const uint8_t *p;
        size_t len;
        if (ppnc_cbor_get_bytes(r, 0, SIZE_MAX, &p, &len) < 0)
            abort();
        ppnc_cbor_put_bytes(w, p, len);
        return 0;
    }
    case PPNC_CBOR_TEXT: {
        char *t = malloc((size_t)v + 1);
        size_t len;
        if (!t)
            abort();
        int e = ppnc_cbor_get_text(r, t, (size_t)v, &len); /* refuses bad UTF-8 and NUL */
        if (e == 0)
            ppnc_cbor_put_text(w, t, len);
        free(t);
        return e;
    }
    case PPNC_CBOR_ARRAY:
        if (ppnc_cbor_get_array(r, UINT64_MAX, &n) < 0)
            abort();
        ppnc_cbor_put_array(w, n);
        for (uint64_t i = 0; i < n; i++)
            if (walk(r, w, depth + 1) < 0)
                return -1;
        return 0;
    default: { /* map */
        uint64_t last = UINT64_MAX, k;
        if (ppnc_cbor_get_map(r, UINT64_MAX, &n) < 0)
            abort();
        ppnc_cbor_put_map(w, n);
        for (uint64_t i = 0; i < n; i++) {
            if (ppnc_cbor_get_key(r, 0, UINT64_MAX, &last, &k) < 0)
                return -1;
            ppnc_cbor_put_uint(w, k);
            if (walk(r, w, depth + 1) < 0)
                return -1;
        }
        return 0;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = malloc(size + 1);
    if (!out)
        abort();
    struct ppnc_cbor_r r = PPNC_CBOR_R(data, size);
    struct ppnc_cbor_w w = PPNC_CBOR_W(out, size + 1);
    /* a sequence of items: each accepted one re-encodes to exactly its bytes */
    while (!ppnc_cbor_r_done(&r)) {
        size_t from = r.pos, wfrom = w.len;
        if (walk(&r, &w, 0) < 0)
            break;
        if (!ppnc_cbor_w_ok(&w) || w.len - wfrom != r.pos - from ||
            memcmp(out + wfrom, data + from, r.pos - from) != 0)
            abort();
    }
    free(out);
    return 0;
}
