/* `loom quantize`: a GGUF in, a GGUF out with its weight matrices converted (loom_quantize_gguf_file).
 *
 * Output format: GGUF v3, alignment 32. Every metadata entry of the input is copied byte for byte except
 * general.file_type and general.alignment; general.file_type is rewritten (llama.cpp's LLAMA_FTYPE of the
 * layer type; absent for fp8) and loom.quantize.type (string: the --type given) is added. Tensors keep
 * their names, shapes and order; their dtypes follow converted_dtype (quant_load.h), the rule
 * load-time quantization uses, so loading the output as stored gives the weights `--quantization MODE`
 * gives on the input:
 *   layer matrices blk.N.{attn_q,attn_k,attn_v,attn_qkv,attn_output,ffn_gate,ffn_up,ffn_down}.weight -> the type;
 *   token_embd.weight / output.weight -> as stored, Q8_0 when stored as f32/f16/bf16;
 *   everything else (norms, biases) and rows that are not a multiple of 32 elements -> as stored.
 * Types: int8 = q8_0 (ggml type 8), int4 = q4_1 (3), q4_0 (2) - llama.cpp reads these files; fp8 = loom's
 * E4M3 block (LOOM_GGUF_TYPE_FP8_E4M3, gguf.h: 32 elements, f16 scale, 32 e4m3 bytes), which only loom reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file_map.h"
#include "formats/gguf.h"
#include "model/quant_load.h"

#define OUT_ALIGNMENT 32

static const struct {
    const char *name;
    loom_dtype dtype;
    int llama_ftype; /* general.file_type; -1: none */
} TYPES[] = {{"int8", LOOM_DTYPE_Q8_0, 7}, {"q8_0", LOOM_DTYPE_Q8_0, 7}, {"int4", LOOM_DTYPE_Q4_1, 3},
             {"q4_1", LOOM_DTYPE_Q4_1, 3}, {"q4_0", LOOM_DTYPE_Q4_0, 2}, {"fp8", LOOM_DTYPE_FP8_E4M3, -1}};

static const char *const LAYER_MATRICES[] = {"attn_q",   "attn_k", "attn_v",   "attn_output",
                                             "ffn_gate", "ffn_up", "ffn_down", "attn_qkv"}; /* Phi-3's fused q/k/v */

typedef struct writer {
    FILE *f;
    const char *path;
    loom_error *err;
    loom_status st;
} writer;

static void put(writer *w, const void *p, size_t n) {
    if (w->st == LOOM_OK && n && fwrite(p, 1, n, w->f) != n)
        w->st = loom_fail(w->err, LOOM_ERR_IO, "%s: write failed", w->path);
}
static void put_u32(writer *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(w, b, 4);
}
static void put_u64(writer *w, uint64_t v) {
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}
static void put_str(writer *w, const char *s) {
    put_u64(w, strlen(s));
    put(w, s, strlen(s));
}
static void put_zeros(writer *w, size_t n) {
    static const uint8_t zeros[OUT_ALIGNMENT];
    put(w, zeros, n);
}

static size_t pad_to_alignment(size_t n) { return (OUT_ALIGNMENT - n % OUT_ALIGNMENT) % OUT_ALIGNMENT; }

static uint64_t load_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* The bytes of kv's value as stored (after the value type; arrays: after element type and count);
 * 0 for arrays of arrays, which this writer does not copy. The parser validated every length. */
static size_t value_bytes(const loom_gguf_kv *kv) {
    loom_gguf_type t = kv->type == LOOM_GGUF_ARRAY ? kv->elem_type : kv->type;
    if (t == LOOM_GGUF_STRING && kv->type != LOOM_GGUF_ARRAY) return 8 + (size_t)load_u64(kv->value);
    if (t == LOOM_GGUF_STRING) {
        if (kv->n_elems == 0) return 0;
        const uint8_t *last = kv->str_elems[kv->n_elems - 1];
        return (size_t)(last - kv->value) + 8 + (size_t)load_u64(last);
    }
    return gguf_scalar_bytes(t) * (size_t)kv->n_elems;
}

static int is_copied_key(const char *key) {
    return strcmp(key, "general.file_type") != 0 && strcmp(key, "general.alignment") != 0;
}

static void put_kvs(writer *w, const loom_gguf *g, const char *type_name, int llama_ftype) {
    for (size_t i = 0; i < g->n_kvs && w->st == LOOM_OK; i++) {
        const loom_gguf_kv *kv = &g->kvs[i];
        if (!is_copied_key(kv->key)) continue;
        if (kv->type == LOOM_GGUF_ARRAY && kv->elem_type == LOOM_GGUF_ARRAY) {
            w->st = loom_fail(w->err, LOOM_ERR_UNSUPPORTED, "metadata key '%.128s': arrays of arrays are not supported",
                              kv->key);
            return;
        }
        put_str(w, kv->key);
        put_u32(w, kv->type);
        if (kv->type == LOOM_GGUF_ARRAY) {
            put_u32(w, kv->elem_type);
            put_u64(w, kv->n_elems);
        }
        put(w, kv->value, value_bytes(kv));
    }
    if (llama_ftype >= 0) {
        put_str(w, "general.file_type");
        put_u32(w, LOOM_GGUF_U32);
        put_u32(w, (uint32_t)llama_ftype);
    }
    put_str(w, "loom.quantize.type");
    put_u32(w, LOOM_GGUF_STRING);
    put_str(w, type_name);
}

static size_t n_copied_kvs(const loom_gguf *g) {
    size_t n = 0;
    for (size_t i = 0; i < g->n_kvs; i++) n += (size_t)is_copied_key(g->kvs[i].key);
    return n;
}

/* 0: kept as stored; 1: a layer matrix; 2: the embedding / LM head. */
static int matrix_role(const loom_tensor_entry *e) {
    if (e->n_dims != 2) return 0;
    if (!strcmp(e->name, "token_embd.weight") || !strcmp(e->name, "output.weight")) return 2;
    int layer, end = 0;
    char kind[16];
    if (sscanf(e->name, "blk.%d.%15[a-z_].weight%n", &layer, kind, &end) != 2 || e->name[end] != '\0') return 0;
    for (size_t i = 0; i < sizeof LAYER_MATRICES / sizeof LAYER_MATRICES[0]; i++)
        if (!strcmp(kind, LAYER_MATRICES[i])) return 1;
    return 0;
}

static loom_dtype output_dtype(const loom_tensor_entry *e, loom_dtype to) {
    int role = matrix_role(e);
    return role == 0 ? e->dtype : converted_dtype(to, role == 2, e->dtype, e->shape[1]);
}

static size_t output_bytes(const loom_tensor_entry *e, loom_dtype to) {
    return e->n_dims == 2 ? (size_t)e->shape[0] * dtype_bytes(output_dtype(e, to), e->shape[1]) : e->size_bytes;
}

static void put_tensor_infos(writer *w, const loom_gguf *g, loom_dtype to) {
    uint64_t offset = 0;
    for (size_t i = 0; i < g->tensors.count; i++) {
        const loom_tensor_entry *e = &g->tensors.entries[i];
        put_str(w, e->name);
        put_u32(w, (uint32_t)e->n_dims);
        for (int d = e->n_dims - 1; d >= 0; d--) put_u64(w, (uint64_t)e->shape[d]); /* GGUF: innermost first */
        put_u32(w, gguf_type_id(output_dtype(e, to)));
        put_u64(w, offset);
        offset += output_bytes(e, to) + pad_to_alignment(output_bytes(e, to));
    }
}

static void put_tensor_data(writer *w, const loom_tensor_entry *e, loom_dtype to, float *scratch) {
    loom_dtype out = output_dtype(e, to);
    if (out == e->dtype) {
        put(w, e->data, e->size_bytes);
    } else { /* a 2-D matrix */
        size_t in_row = dtype_bytes(e->dtype, e->shape[1]), out_row = dtype_bytes(out, e->shape[1]);
        uint8_t *row = malloc(out_row);
        if (!row) w->st = loom_fail(w->err, LOOM_ERR_NO_MEMORY, "out of memory converting '%.128s'", e->name);
        for (int64_t r = 0; row && r < e->shape[0] && w->st == LOOM_OK; r++) {
            convert_row(e->dtype, e->data + (size_t)r * in_row, out, row, scratch, e->shape[1]);
            put(w, row, out_row);
        }
        free(row);
    }
    put_zeros(w, pad_to_alignment(output_bytes(e, to)));
}

static int64_t longest_row(const loom_gguf *g) {
    int64_t n = 1;
    for (size_t i = 0; i < g->tensors.count; i++)
        if (g->tensors.entries[i].n_dims == 2 && g->tensors.entries[i].shape[1] > n) n = g->tensors.entries[i].shape[1];
    return n;
}

static loom_status write_gguf(const loom_gguf *g, const char *out_path, size_t type, loom_error *err) {
    writer w = {.f = fopen(out_path, "wb"), .path = out_path, .err = err, .st = LOOM_OK};
    if (!w.f) return loom_fail(err, LOOM_ERR_IO, "%s: cannot create", out_path);
    float *scratch = malloc((size_t)longest_row(g) * sizeof(float));
    if (!scratch) w.st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_dtype to = TYPES[type].dtype;
    put(&w, "GGUF", 4);
    put_u32(&w, 3);
    put_u64(&w, g->tensors.count);
    put_u64(&w, n_copied_kvs(g) + 1 + (TYPES[type].llama_ftype >= 0));
    put_kvs(&w, g, TYPES[type].name, TYPES[type].llama_ftype);
    put_tensor_infos(&w, g, to);
    long pos = ftell(w.f);
    put_zeros(&w, pad_to_alignment(pos < 0 ? 0 : (size_t)pos));
    for (size_t i = 0; i < g->tensors.count && w.st == LOOM_OK; i++)
        put_tensor_data(&w, &g->tensors.entries[i], to, scratch);
    free(scratch);
    if (fclose(w.f) != 0 && w.st == LOOM_OK) w.st = loom_fail(err, LOOM_ERR_IO, "%s: write failed", out_path);
    if (w.st != LOOM_OK) remove(out_path);
    return w.st;
}

loom_status loom_quantize_gguf_file(const char *in_path, const char *out_path, const char *type_name, loom_error *err) {
    size_t type = 0;
    while (type < sizeof TYPES / sizeof TYPES[0] && strcmp(TYPES[type].name, type_name)) type++;
    if (type == sizeof TYPES / sizeof TYPES[0])
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "unknown quantization type '%.64s' (int8, int4, fp8, q8_0, q4_0, q4_1)", type_name);
    if (!strcmp(in_path, out_path))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "%s: the output would overwrite the input", out_path);
    loom_file_map map;
    loom_status st = file_map_open(&map, in_path, err);
    if (st != LOOM_OK) return st;
    loom_gguf g;
    st = gguf_parse(map.data, map.size_bytes, &g, err);
    if (st != LOOM_OK) st = error_prefix(err, in_path);
    else st = write_gguf(&g, out_path, type, err), gguf_free(&g);
    file_map_close(&map);
    return st;
}
