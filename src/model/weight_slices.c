#include "model/weight_slices.h"
#include "kernels/weight_prep.h"

#include <stdio.h>
#include <string.h>

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
/* the newer dense families (config.h: norms, qk_norm, fused_projections) */
static const weight_name NAME_Q_NORM = {"model.layers.%d.self_attn.q_norm.weight", "blk.%d.attn_q_norm.weight"};
static const weight_name NAME_K_NORM = {"model.layers.%d.self_attn.k_norm.weight", "blk.%d.attn_k_norm.weight"};
static const weight_name NAME_ATTN_POST_NORM = {"model.layers.%d.post_attention_layernorm.weight",
                                                "blk.%d.post_attention_norm.weight"};
static const weight_name NAME_FFN_PRE_NORM = {"model.layers.%d.pre_feedforward_layernorm.weight",
                                              "blk.%d.ffn_norm.weight"};
static const weight_name NAME_FFN_POST_NORM = {"model.layers.%d.post_feedforward_layernorm.weight",
                                               "blk.%d.post_ffw_norm.weight"};
static const weight_name NAME_WQKV = {"model.layers.%d.self_attn.qkv_proj.weight", "blk.%d.attn_qkv.weight"};
static const weight_name NAME_GATE_UP = {"model.layers.%d.mlp.gate_up_proj.weight", "blk.%d.ffn_up.weight"};

/* One entry of the lists below: the slice without its name, which is spelled per naming and layer. */
typedef struct slice_spec {
    const weight_name *name;
    loom_weight_slice slice;
} slice_spec;

typedef struct slicer {
    const loom_tensor_table *table;
    loom_tensor_naming naming;
    loom_weight_slice_fn fn;
    void *ctx;
} slicer;

/* expert: the second %d of per-expert names (ignored by the others) */
static loom_status visit(const slicer *v, const slice_spec *spec, int layer, int expert) {
    loom_weight_slice s = spec->slice;
    snprintf(s.name, sizeof s.name, v->naming == LOOM_NAMES_HF ? spec->name->hf : spec->name->gguf, layer, expert);
    int64_t extent = s.is_vector || s.axis == LOOM_SLICE_COLS ? s.cols : s.rows; /* along the split */
    if (s.axis == LOOM_SLICE_WHOLE || (s.begin == 0 && s.count == extent)) {
        s.axis = LOOM_SLICE_WHOLE; /* all rows (a vector: all elements) */
        s.begin = 0;
        s.count = s.is_vector ? s.cols : s.rows;
    }
    return v->fn(v->ctx, &s);
}

static loom_status visit_all(const slicer *v, const slice_spec *specs, size_t n, int layer, int expert) {
    loom_status st = LOOM_OK;
    for (size_t i = 0; i < n && st == LOOM_OK; i++) st = visit(v, &specs[i], layer, expert);
    return st;
}

#define DST(ptr, field) ((ptr) ? &(ptr)->field : NULL)
#define VECTOR(dst_, n_, optional_, axis_, begin_, count_)                                                             \
    {                                                                                                                  \
        .dst = (dst_), .is_vector = 1, .optional = (optional_), .cols = (n_), .axis = (axis_), .begin = (begin_),      \
        .count = (count_)                                                                                              \
    }
#define NORM(dst_, n_, axis_, begin_, count_)                                                                          \
    { .dst = (dst_), .is_vector = 1, .is_norm = 1, .cols = (n_), .axis = (axis_), .begin = (begin_), .count = (count_) }
#define MATRIX(dst_, rows_, cols_, axis_, begin_, count_)                                                              \
    { .dst = (dst_), .rows = (rows_), .cols = (cols_), .axis = (axis_), .begin = (begin_), .count = (count_) }

/* ---- mixture-of-experts FFNs ------------------------------------------------------------------- */

/* Per-expert names: layer, then expert. GGUF files store the experts stacked (*_exps, one [n_experts]
 * [rows][cols] tensor per kind); older Mixtral GGUFs have one matrix per expert, as HF checkpoints do. */
typedef struct moe_names {
    weight_name router, gate, up, down;
} moe_names;

static const moe_names MIXTRAL_NAMES = {
    {"model.layers.%d.block_sparse_moe.gate.weight", "blk.%d.ffn_gate_inp.weight"},
    {"model.layers.%d.block_sparse_moe.experts.%d.w1.weight", "blk.%d.ffn_gate.%d.weight"},
    {"model.layers.%d.block_sparse_moe.experts.%d.w3.weight", "blk.%d.ffn_up.%d.weight"},
    {"model.layers.%d.block_sparse_moe.experts.%d.w2.weight", "blk.%d.ffn_down.%d.weight"},
};
static const moe_names MLP_EXPERT_NAMES = {
    /* Qwen2-MoE, Qwen3-MoE, OLMoE */
    {"model.layers.%d.mlp.gate.weight", "blk.%d.ffn_gate_inp.weight"},
    {"model.layers.%d.mlp.experts.%d.gate_proj.weight", "blk.%d.ffn_gate.%d.weight"},
    {"model.layers.%d.mlp.experts.%d.up_proj.weight", "blk.%d.ffn_up.%d.weight"},
    {"model.layers.%d.mlp.experts.%d.down_proj.weight", "blk.%d.ffn_down.%d.weight"},
};
static const weight_name NAME_GATE_EXPS = {"", "blk.%d.ffn_gate_exps.weight"};
static const weight_name NAME_UP_EXPS = {"", "blk.%d.ffn_up_exps.weight"};
static const weight_name NAME_DOWN_EXPS = {"", "blk.%d.ffn_down_exps.weight"};
static const weight_name NAME_SHARED_GATE = {"model.layers.%d.mlp.shared_expert.gate_proj.weight",
                                             "blk.%d.ffn_gate_shexp.weight"};
static const weight_name NAME_SHARED_UP = {"model.layers.%d.mlp.shared_expert.up_proj.weight",
                                           "blk.%d.ffn_up_shexp.weight"};
static const weight_name NAME_SHARED_DOWN = {"model.layers.%d.mlp.shared_expert.down_proj.weight",
                                             "blk.%d.ffn_down_shexp.weight"};
static const weight_name NAME_SHARED_EXPERT_GATE = {"model.layers.%d.mlp.shared_expert_gate.weight",
                                                    "blk.%d.ffn_gate_inp_shexp.weight"};

static int stacked_experts(const slicer *v, int layer) {
    char name[64];
    snprintf(name, sizeof name, NAME_GATE_EXPS.gguf, layer);
    return v->naming == LOOM_NAMES_GGUF && v->table && tensor_table_find(v->table, name);
}

static loom_status visit_moe(const slicer *v, const loom_config *c, const loom_shard *s, loom_moe_weights *w, int l) {
    int64_t hidden = c->hidden_size, n_experts = c->moe.n_experts, ffn = c->moe.expert_intermediate;
    int64_t shared = c->moe.shared_intermediate;
    const moe_names *names = c->arch == LOOM_ARCH_MIXTRAL ? &MIXTRAL_NAMES : &MLP_EXPERT_NAMES;
    const slice_spec router = {&names->router, MATRIX(DST(w, router), n_experts, hidden, LOOM_SLICE_WHOLE, 0, 0)};
    loom_status st = visit(v, &router, l, 0);
    int stacked = stacked_experts(v, l);
    for (int32_t e = s->expert_begin; st == LOOM_OK && e < s->expert_begin + s->n_local_experts; e++) {
        loom_expert_weights *x = w ? &w->experts[e] : NULL;
        slice_spec specs[] = {
            {stacked ? &NAME_GATE_EXPS : &names->gate,
             MATRIX(DST(x, gate), ffn, hidden, LOOM_SLICE_ROWS, s->expert_ffn_begin, s->expert_ffn_size)},
            {stacked ? &NAME_UP_EXPS : &names->up,
             MATRIX(DST(x, up), ffn, hidden, LOOM_SLICE_ROWS, s->expert_ffn_begin, s->expert_ffn_size)},
            {stacked ? &NAME_DOWN_EXPS : &names->down,
             MATRIX(DST(x, down), hidden, ffn, LOOM_SLICE_COLS, s->expert_ffn_begin, s->expert_ffn_size)},
        };
        for (int i = 0; stacked && i < 3; i++) {
            specs[i].slice.n_slabs = n_experts;
            specs[i].slice.slab = e;
        }
        st = visit_all(v, specs, 3, l, e);
    }
    if (st != LOOM_OK || shared == 0) return st;
    const slice_spec specs[] = {
        {&NAME_SHARED_GATE,
         MATRIX(DST(w, shared.gate), shared, hidden, LOOM_SLICE_ROWS, s->shared_ffn_begin, s->shared_ffn_size)},
        {&NAME_SHARED_UP,
         MATRIX(DST(w, shared.up), shared, hidden, LOOM_SLICE_ROWS, s->shared_ffn_begin, s->shared_ffn_size)},
        {&NAME_SHARED_DOWN,
         MATRIX(DST(w, shared.down), hidden, shared, LOOM_SLICE_COLS, s->shared_ffn_begin, s->shared_ffn_size)},
        {&NAME_SHARED_EXPERT_GATE, MATRIX(DST(w, shared_gate), 1, hidden, LOOM_SLICE_WHOLE, 0, 0)},
    };
    return visit_all(v, specs, 4, l, 0);
}

/* Slots of the Llama list (visit_layer) that the newer families change. */
enum {
    SPEC_ATTN_NORM,
    SPEC_WQ,
    SPEC_WK,
    SPEC_WV,
    SPEC_BQ,
    SPEC_BK,
    SPEC_BV,
    SPEC_WO,
    SPEC_FFN_NORM,
    SPEC_GATE,
    SPEC_UP,
    SPEC_DOWN,
    N_LLAMA_SPECS
};

/* A layer of the newer dense families: the Llama list with the norms placed as cfg->norms says (Gemma's
 * post_attention_layernorm is its attention's post-norm, pre_feedforward_layernorm the MLP's pre-norm;
 * OLMo 2 has post-norms only), q/k norms, and Phi-3's q/k/v and gate/up as row ranges of its fused
 * qkv_proj [q_dim + 2 kv_dim][hidden] and gate_up_proj [2 intermediate][hidden]. */
static loom_status visit_layer_variant(const slicer *v, const loom_config *c, const loom_shard *s,
                                       loom_layer_weights *L, const slice_spec llama[N_LLAMA_SPECS], int l) {
    int64_t hidden = c->hidden_size, hd = c->head_dim, ffn = c->intermediate_size;
    int64_t q_dim = config_q_dim(c), kv_dim = config_kv_dim(c);
    slice_spec specs[N_LLAMA_SPECS + 4];
    memcpy(specs, llama, N_LLAMA_SPECS * sizeof *specs);
    size_t n = N_LLAMA_SPECS;
    if (c->fused_projections) {
        for (int i = SPEC_WQ; i <= SPEC_WV; i++) {
            specs[i].name = &NAME_WQKV;
            specs[i].slice.rows = q_dim + 2 * kv_dim;
        }
        specs[SPEC_WK].slice.begin += q_dim;
        specs[SPEC_WV].slice.begin += q_dim + kv_dim;
        specs[SPEC_GATE].name = specs[SPEC_UP].name = &NAME_GATE_UP;
        specs[SPEC_GATE].slice.rows = specs[SPEC_UP].slice.rows = 2 * ffn;
        specs[SPEC_UP].slice.begin += ffn;
    }
    if (c->qk_norm == LOOM_QK_NORM_HEAD) {
        specs[n++] = (slice_spec){&NAME_Q_NORM, NORM(DST(L, q_norm), hd, LOOM_SLICE_WHOLE, 0, 0)};
        specs[n++] = (slice_spec){&NAME_K_NORM, NORM(DST(L, k_norm), hd, LOOM_SLICE_WHOLE, 0, 0)};
    } else if (c->qk_norm == LOOM_QK_NORM_FULL) {
        specs[n++] = (slice_spec){&NAME_Q_NORM,
                                  NORM(DST(L, q_norm), q_dim, LOOM_SLICE_ROWS, s->head_begin * hd, s->n_heads * hd)};
        specs[n++] = (slice_spec){
            &NAME_K_NORM, NORM(DST(L, k_norm), kv_dim, LOOM_SLICE_ROWS, s->kv_head_begin * hd, s->n_kv_heads * hd)};
    }
    if (c->norms != LOOM_NORMS_PRE) {
        specs[n++] = (slice_spec){&NAME_ATTN_POST_NORM, NORM(DST(L, attn_post_norm), hidden, LOOM_SLICE_WHOLE, 0, 0)};
        specs[n++] = (slice_spec){&NAME_FFN_POST_NORM, NORM(DST(L, ffn_post_norm), hidden, LOOM_SLICE_WHOLE, 0, 0)};
        specs[SPEC_FFN_NORM].name = &NAME_FFN_PRE_NORM;
    }
    loom_status st = LOOM_OK;
    int moe = config_is_moe(c); /* the experts replace the dense MLP (visit_moe) */
    for (size_t i = 0; i < n && st == LOOM_OK; i++) {
        if (c->norms == LOOM_NORMS_POST && (i == SPEC_ATTN_NORM || i == SPEC_FFN_NORM)) continue;
        if (moe && i >= SPEC_GATE && i <= SPEC_DOWN) continue;
        st = visit(v, &specs[i], l, 0);
    }
    return st;
}

static loom_status visit_layer(const slicer *v, const loom_config *c, const loom_shard *s, loom_layer_weights *L,
                               int l) {
    int64_t hidden = c->hidden_size, hd = c->head_dim, ffn = c->intermediate_size;
    int64_t q_dim = config_q_dim(c), kv_dim = config_kv_dim(c);
    int64_t q_begin = s->head_begin * hd, q_count = s->n_heads * hd;
    int64_t kv_begin = s->kv_head_begin * hd, kv_count = s->n_kv_heads * hd;
    int no_bias = !c->attention_bias;
    const slice_spec specs[] = {
        {&NAME_ATTN_NORM, NORM(DST(L, attn_norm), hidden, LOOM_SLICE_WHOLE, 0, 0)},
        {&NAME_WQ, MATRIX(DST(L, wq), q_dim, hidden, LOOM_SLICE_ROWS, q_begin, q_count)},
        {&NAME_WK, MATRIX(DST(L, wk), kv_dim, hidden, LOOM_SLICE_ROWS, kv_begin, kv_count)},
        {&NAME_WV, MATRIX(DST(L, wv), kv_dim, hidden, LOOM_SLICE_ROWS, kv_begin, kv_count)},
        {&NAME_BQ, VECTOR(DST(L, bq), q_dim, no_bias, LOOM_SLICE_ROWS, q_begin, q_count)},
        {&NAME_BK, VECTOR(DST(L, bk), kv_dim, no_bias, LOOM_SLICE_ROWS, kv_begin, kv_count)},
        {&NAME_BV, VECTOR(DST(L, bv), kv_dim, no_bias, LOOM_SLICE_ROWS, kv_begin, kv_count)},
        {&NAME_WO, MATRIX(DST(L, wo), hidden, q_dim, LOOM_SLICE_COLS, q_begin, q_count)},
        {&NAME_FFN_NORM, NORM(DST(L, ffn_norm), hidden, LOOM_SLICE_WHOLE, 0, 0)},
        {&NAME_GATE, MATRIX(DST(L, w_gate), ffn, hidden, LOOM_SLICE_ROWS, s->ffn_begin, s->ffn_size)},
        {&NAME_UP, MATRIX(DST(L, w_up), ffn, hidden, LOOM_SLICE_ROWS, s->ffn_begin, s->ffn_size)},
        {&NAME_DOWN, MATRIX(DST(L, w_down), hidden, ffn, LOOM_SLICE_COLS, s->ffn_begin, s->ffn_size)},
    };
    _Static_assert(sizeof specs / sizeof specs[0] == N_LLAMA_SPECS, "specs in the order of the SPEC_ slots");
    loom_status st = c->norms != LOOM_NORMS_PRE || c->qk_norm != LOOM_QK_NORM_NONE || c->fused_projections
        ? visit_layer_variant(v, c, s, L, specs, l)
        : visit_all(v, specs, N_LLAMA_SPECS - (config_is_moe(c) ? 3 : 0), l, 0); /* MLP last */
    if (st == LOOM_OK && config_is_moe(c)) st = visit_moe(v, c, s, DST(L, moe), l);
    return st;
}

loom_status shard_for_each_weight(const loom_config *c, const loom_shard *s, const loom_tensor_table *t,
                                  loom_tensor_naming naming, loom_weights *w, loom_weight_slice_fn fn, void *ctx) {
    const slicer v = {t, naming, fn, ctx};
    int first = shard_first_stage(s), last = shard_last_stage(s);
    int64_t hidden = c->hidden_size, vocab = c->vocab_size;
    const slice_spec embed = {&NAME_EMBED,
                              MATRIX(DST(w, tok_embed), vocab, hidden, LOOM_SLICE_ROWS, s->vocab_begin, s->vocab_size)};
    const slice_spec final_norm = {&NAME_FINAL_NORM, NORM(DST(w, final_norm), hidden, LOOM_SLICE_WHOLE, 0, 0)};
    const slice_spec head = {&NAME_LM_HEAD,
                             MATRIX(DST(w, lm_head), vocab, hidden, LOOM_SLICE_ROWS, s->vocab_begin, s->vocab_size)};
    loom_status st = LOOM_OK;
    if (first || (last && c->tie_word_embeddings)) st = visit(&v, &embed, 0, 0);
    if (st == LOOM_OK && last) st = visit(&v, &final_norm, 0, 0);
    if (st == LOOM_OK && last && !c->tie_word_embeddings) st = visit(&v, &head, 0, 0);
    for (int l = s->layer_begin; st == LOOM_OK && l < s->layer_end; l++)
        st = visit_layer(&v, c, s, w ? &w->layers[l] : NULL, l);
    return st;
}

void weight_slice_bounds(const loom_weight_slice *s, int64_t *row_begin, int64_t *n_rows, int64_t *col_begin,
                         int64_t *n_cols) {
    int by_cols = s->is_vector || s->axis == LOOM_SLICE_COLS;
    *row_begin = by_cols ? 0 : s->begin;
    *n_rows = s->is_vector ? 1 : by_cols ? s->rows : s->count;
    *col_begin = by_cols ? s->begin : 0;
    *n_cols = by_cols ? s->count : s->cols;
}

static loom_status shape_error(const loom_weight_slice *s, const loom_tensor_entry *e, const char *source,
                               loom_error *err) {
    char got[96] = "", want[72];
    for (int i = 0; i < e->n_dims; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)e->shape[i]);
    if (s->is_vector) snprintf(want, sizeof want, "%lld", (long long)s->cols);
    else if (s->n_slabs)
        snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)s->n_slabs, (long long)s->rows, (long long)s->cols);
    else snprintf(want, sizeof want, "%lld,%lld", (long long)s->rows, (long long)s->cols);
    return loom_fail(err, LOOM_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", source, s->name, got, want);
}

loom_status weight_slice_check(const loom_weight_slice *s, const loom_tensor_entry *e, const char *source,
                               int32_t tp_size, size_t *kept_bytes, loom_error *err) {
    int shape_ok = s->is_vector ? e->n_dims == 1 && e->shape[0] == s->cols
        : s->n_slabs ? e->n_dims == 3 && e->shape[0] == s->n_slabs && e->shape[1] == s->rows && e->shape[2] == s->cols
                     : (e->n_dims == 2 && e->shape[0] == s->rows && e->shape[1] == s->cols) ||
            (s->rows == 1 && e->n_dims == 1 && e->shape[0] == s->cols); /* [1][n] as [n] */
    if (!shape_ok) return shape_error(s, e, source, err);
    if (s->is_vector && e->dtype != LOOM_DTYPE_F32 && e->dtype != LOOM_DTYPE_F16 && e->dtype != LOOM_DTYPE_BF16)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "%s: vector '%s' has dtype %s (expected f32, f16 or bf16)", source,
                         s->name, dtype_name(e->dtype));
    if (!s->is_vector && !weight_prep_dtype_supported(e->dtype))
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which loom cannot compute with yet",
                         source, s->name, dtype_name(e->dtype));
    int64_t block = dtype_block_elems(e->dtype);
    loom_dtype kept = s->axis == LOOM_SLICE_COLS ? column_slice_dtype(e->dtype, s->begin, s->count) : e->dtype;
    if (kept == LOOM_DTYPE_COUNT)
        return loom_fail(
            err, LOOM_ERR_UNSUPPORTED,
            "%s: tensor '%s' (%s, blocks of %lld columns) cannot be split for tensor parallel size %d: its "
            "columns [%lld, %lld) do not start and end on block boundaries, not even of 32 columns",
            source, s->name, dtype_name(e->dtype), (long long)block, tp_size, (long long)s->begin,
            (long long)(s->begin + s->count));
    int64_t row_begin, n_rows, col_begin, n_cols;
    weight_slice_bounds(s, &row_begin, &n_rows, &col_begin, &n_cols);
    *kept_bytes = (size_t)n_rows * dtype_bytes(kept, n_cols);
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
    const loom_tensor_entry *e = tensor_table_find(b->table, s->name);
    if (!e)
        return s->optional ? LOOM_OK
                           : loom_fail(b->err, LOOM_ERR_FORMAT, "%s: missing tensor '%s'", b->source, s->name);
    size_t kept = 0;
    loom_status st = weight_slice_check(s, e, b->source, b->tp_size, &kept, b->err);
    b->bytes += kept;
    return st;
}

loom_status shard_weight_bytes(const loom_tensor_table *t, loom_tensor_naming naming, const loom_config *c,
                               const loom_shard *s, const char *source, uint64_t *bytes, loom_error *err) {
    byte_counter b = {t, source, s->tp_size, 0, err};
    loom_status st = shard_for_each_weight(c, s, t, naming, NULL, count_slice, &b);
    *bytes = st == LOOM_OK ? b.bytes : 0;
    return st;
}
