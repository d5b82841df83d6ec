#include "model/weight_slices.h"

#include <stdio.h>
#include <string.h>

#include "kernels/cpu/rowops.h"
#include "model/quant_load.h"

/* The checkpoint name of a weight: HF and GGUF spellings, with %d standing for the layer index. */
typedef struct weight_name {
    const char *hf, *gguf;
} weight_name;

static const weight_name NAME_EMBED = {"model.embed_tokens.weight", "token_embd.weight"};
static const weight_name NAME_FINAL_NORM = {"model.norm.weight", "output_norm.weight"};
static const weight_name NAME_LM_HEAD = {"lm_head.weight", "output.weight"};
static const weight_name NAME_ATTN_NORM = {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"};
static const weight_name NAME_WQ = {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"};
static const weight_name NAME_WK = {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"};
static const weight_name NAME_WV = {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"};
static const weight_name NAME_BQ = {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"};
static const weight_name NAME_BK = {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"};
static const weight_name NAME_BV = {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"};
static const weight_name NAME_WO = {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"};
static const weight_name NAME_FFN_NORM = {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"};
static const weight_name NAME_GATE = {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"};
static const weight_name NAME_UP = {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"};
static const weight_name NAME_DOWN = {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"};

/* One entry of the lists below: the slice without its name, which is spelled per naming and layer. */
typedef struct slice_spec {
    const weight_name *name;
    loom_weight_slice slice;
} slice_spec;

typedef struct slicer {
    loom_tensor_naming naming;
    loom_weight_slice_fn fn;
    void *ctx;
} slicer;

static loom_status visit(const slicer *v, const slice_spec *spec, int layer) {
    loom_weight_slice s = spec->slice;
    snprintf(s.name, sizeof s.name, v->naming == LOOM_NAMES_HF ? spec->name->hf : spec->name->gguf, layer);
    int64_t extent = s.is_vector || s.axis == LOOM_SLICE_COLS ? s.cols : s.rows; /* along the split */
    if (s.axis == LOOM_SLICE_WHOLE || (s.begin == 0 && s.count == extent)) {
        s.axis = LOOM_SLICE_WHOLE; /* all rows (a vector: all elements) */
        s.begin = 0;
        s.count = s.is_vector ? s.cols : s.rows;
    }
    return v->fn(v->ctx, &s);
}

static loom_status visit_all(const slicer *v, const slice_spec *specs, size_t n, int layer) {
    loom_status st = LOOM_OK;
    for (size_t i = 0; i < n && st == LOOM_OK; i++) st = visit(v, &specs[i], layer);
    return st;
}

#define DST(ptr, field) ((ptr) ? &(ptr)->field : NULL)
#define VECTOR(dst_, n_, optional_, axis_, begin_, count_) \
    {.dst = (dst_), .is_vector = 1, .optional = (optional_), .cols = (n_), .axis = (axis_), .begin = (begin_), .count = (count_)}
#define MATRIX(dst_, rows_, cols_, axis_, begin_, count_) \
    {.dst = (dst_), .rows = (rows_), .cols = (cols_), .axis = (axis_), .begin = (begin_), .count = (count_)}

static loom_status visit_layer(const slicer *v, const loom_config *c, const loom_shard *s, loom_layer_weights *L, int l) {
    int64_t hidden = c->hidden_size, hd = c->head_dim, ffn = c->intermediate_size;
    int64_t q_dim = loom_config_q_dim(c), kv_dim = loom_config_kv_dim(c);
    int64_t q_begin = s->head_begin * hd, q_count = s->n_heads * hd;
    int64_t kv_begin = s->kv_head_begin * hd, kv_count = s->n_kv_heads * hd;
    int no_bias = !c->attention_bias;
    const slice_spec specs[] = {
        {&NAME_ATTN_NORM, VECTOR(DST(L, attn_norm), hidden, 0, LOOM_SLICE_WHOLE, 0, 0)},
        {&NAME_WQ, MATRIX(DST(L, wq), q_dim, hidden, LOOM_SLICE_ROWS, q_begin, q_count)},
        {&NAME_WK, MATRIX(DST(L, wk), kv_dim, hidden, LOOM_SLICE_ROWS, kv_begin, kv_count)},
        {&NAME_WV, MATRIX(DST(L, wv), kv_dim, hidden, LOOM_SLICE_ROWS, kv_begin, kv_count)},
        {&NAME_BQ, VECTOR(DST(L, bq), q_dim, no_bias, LOOM_SLICE_ROWS, q_begin, q_count)},
        {&NAME_BK, VECTOR(DST(L, bk), kv_dim, no_bias, LOOM_SLICE_ROWS, kv_begin, kv_count)},
        {&NAME_BV, VECTOR(DST(L, bv), kv_dim, no_bias, LOOM_SLICE_ROWS, kv_begin, kv_count)},
        {&NAME_WO, MATRIX(DST(L, wo), hidden, q_dim, LOOM_SLICE_COLS, q_begin, q_count)},
        {&NAME_FFN_NORM, VECTOR(DST(L, ffn_norm), hidden, 0, LOOM_SLICE_WHOLE, 0, 0)},
        {&NAME_GATE, MATRIX(DST(L, w_gate), ffn, hidden, LOOM_SLICE_ROWS, s->ffn_begin, s->ffn_size)},
        {&NAME_UP, MATRIX(DST(L, w_up), ffn, hidden, LOOM_SLICE_ROWS, s->ffn_begin, s->ffn_size)},
        {&NAME_DOWN, MATRIX(DST(L, w_down), hidden, ffn, LOOM_SLICE_COLS, s->ffn_begin, s->ffn_size)},
    };
    return visit_all(v, specs, sizeof specs / sizeof specs[0], l);
}

loom_status loom_shard_for_each_weight(const loom_config *c, const loom_shard *s, loom_tensor_naming naming,
                                       loom_weights *w, loom_weight_slice_fn fn, void *ctx) {
    const slicer v = {naming, fn, ctx};
    int first = loom_shard_first_stage(s), last = loom_shard_last_stage(s);
    int64_t hidden = c->hidden_size, vocab = c->vocab_size;
    const slice_spec embed = {&NAME_EMBED, MATRIX(DST(w, tok_embed), vocab, hidden, LOOM_SLICE_ROWS, s->vocab_begin,
                                                  s->vocab_size)};
    const slice_spec final_norm = {&NAME_FINAL_NORM, VECTOR(DST(w, final_norm), hidden, 0, LOOM_SLICE_WHOLE, 0, 0)};
    const slice_spec head = {&NAME_LM_HEAD, MATRIX(DST(w, lm_head), vocab, hidden, LOOM_SLICE_ROWS, s->vocab_begin,
                                                   s->vocab_size)};
    loom_status st = LOOM_OK;
    if (first || (last && c->tie_word_embeddings)) st = visit(&v, &embed, 0);
    if (st == LOOM_OK && last) st = visit(&v, &final_norm, 0);
    if (st == LOOM_OK && last && !c->tie_word_embeddings) st = visit(&v, &head, 0);
    for (int l = s->layer_begin; st == LOOM_OK && l < s->layer_end; l++)
        st = visit_layer(&v, c, s, w ? &w->layers[l] : NULL, l);
    return st;
}

void loom_weight_slice_bounds(const loom_weight_slice *s, int64_t *row_begin, int64_t *n_rows, int64_t *col_begin,
                              int64_t *n_cols) {
    int by_cols = s->is_vector || s->axis == LOOM_SLICE_COLS;
    *row_begin = by_cols ? 0 : s->begin;
    *n_rows = s->is_vector ? 1 : by_cols ? s->rows : s->count;
    *col_begin = by_cols ? s->begin : 0;
    *n_cols = by_cols ? s->count : s->cols;
}

static loom_status shape_error(const loom_weight_slice *s, const loom_tensor_entry *e, const char *source,
                               loom_error *err) {
    char got[96] = "", want[48];
    for (int i = 0; i < e->n_dims; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)e->shape[i]);
    if (s->is_vector) snprintf(want, sizeof want, "%lld", (long long)s->cols);
    else snprintf(want, sizeof want, "%lld,%lld", (long long)s->rows, (long long)s->cols);
    return loom_fail(err, LOOM_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", source, s->name, got, want);
}

loom_status loom_weight_slice_check(const loom_weight_slice *s, const loom_tensor_entry *e, const char *source,
                                    int32_t tp_size, size_t *kept_bytes, loom_error *err) {
    int shape_ok = s->is_vector ? e->n_dims == 1 && e->shape[0] == s->cols
                                : e->n_dims == 2 && e->shape[0] == s->rows && e->shape[1] == s->cols;
    if (!shape_ok) return shape_error(s, e, source, err);
    if (s->is_vector && e->dtype != LOOM_DTYPE_F32 && e->dtype != LOOM_DTYPE_F16 && e->dtype != LOOM_DTYPE_BF16)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "%s: vector '%s' has dtype %s (expected f32, f16 or bf16)", source,
                         s->name, loom_dtype_name(e->dtype));
    if (!s->is_vector && !loom_cpu_weight_dtype_supported(e->dtype))
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which loom cannot compute with yet",
                         source, s->name, loom_dtype_name(e->dtype));
    int64_t block = loom_dtype_block_elems(e->dtype);
    loom_dtype kept = s->axis == LOOM_SLICE_COLS ? loom_column_slice_dtype(e->dtype, s->begin, s->count) : e->dtype;
    if (kept == LOOM_DTYPE_COUNT)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                         "%s: tensor '%s' (%s, blocks of %lld columns) cannot be split for tensor parallel size %d: its "
                         "columns [%lld, %lld) do not start and end on block boundaries, not even of 32 columns",
                         source, s->name, loom_dtype_name(e->dtype), (long long)block, tp_size, (long long)s->begin,
                         (long long)(s->begin + s->count));
    int64_t row_begin, n_rows, col_begin, n_cols;
    loom_weight_slice_bounds(s, &row_begin, &n_rows, &col_begin, &n_cols);
    *kept_bytes = (size_t)n_rows * loom_dtype_bytes(kept, n_cols);
    return LOOM_OK;
}

typedef struct byte_counter {
    const loom_tensor_table *table;
    const char *source;
    int32_t tp_size;
    uint64_t bytes;
    loom_error *err;
} byte_counter;

static loom_status count_slice(void *ctx, const loom_weight_slice *s) {
    byte_counter *b = ctx;
    const loom_tensor_entry *e = loom_tensor_table_find(b->table, s->name);
    if (!e)
        return s->optional ? LOOM_OK : loom_fail(b->err, LOOM_ERR_FORMAT, "%s: missing tensor '%s'", b->source, s->name);
    size_t kept = 0;
    loom_status st = loom_weight_slice_check(s, e, b->source, b->tp_size, &kept, b->err);
    b->bytes += kept;
    return st;
}

loom_status loom_shard_weight_bytes(const loom_tensor_table *t, loom_tensor_naming naming, const loom_config *c,
                                    const loom_shard *s, const char *source, uint64_t *bytes, loom_error *err) {
    byte_counter b = {t, source, s->tp_size, 0, err};
    loom_status st = loom_shard_for_each_weight(c, s, naming, NULL, count_slice, &b);
    *bytes = st == LOOM_OK ? b.bytes : 0;
    return st;
}
