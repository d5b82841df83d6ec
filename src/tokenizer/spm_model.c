/* SentencePiece tokenizer.model (protobuf ModelProto), read with a small bounds-checked wire-format
 * reader: pieces {piece = 1, score = 2, type = 3}, trainer_spec {model_type = 3, byte_fallback = 35,
 * unk_id = 40, bos_id = 41, eos_id = 42}, normalizer_spec {add_dummy_prefix = 3}. Only BPE models.
 * Encoding follows sentencepiece itself (dummy prefix on every piece of text, score-ordered merges),
 * which is also what HF's Llama tokenizer.json and llama.cpp do. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct pb {
    const uint8_t *p, *end;
} pb;

static int varint(pb *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

/* Reads one field header and its payload: varint value, or a length-delimited / fixed32 slice. */
static int field(pb *r, uint32_t *num, uint64_t *val, pb *sub) {
    uint64_t key, len;
    sub->p = sub->end = NULL; /* only length-delimited and fixed fields have a payload slice */
    if (varint(r, &key)) return -1;
    *num = (uint32_t)(key >> 3);
    switch (key & 7) {
        case 0: return varint(r, val);
        case 1:
            if (r->end - r->p < 8) return -1;
            sub->p = r->p;
            r->p += 8;
            sub->end = r->p;
            return 0;
        case 2:
            if (varint(r, &len) || len > (uint64_t)(r->end - r->p)) return -1;
            sub->p = r->p;
            r->p += len;
            sub->end = r->p;
            return 0;
        case 5:
            if (r->end - r->p < 4) return -1;
            sub->p = r->p;
            r->p += 4;
            sub->end = r->p;
            return 0;
        default: return -1;
    }
}

typedef struct spec {
    int64_t model_type, byte_fallback, unk_id, bos_id, eos_id, add_dummy_prefix;
} spec;

/* trainer_spec (which = 2) or normalizer_spec (which = 3) fields. */
static int read_spec(pb sub, int which, spec *s) {
    while (sub.p < sub.end) {
        uint32_t num;
        uint64_t v = 0;
        pb x;
        if (field(&sub, &num, &v, &x)) return -1;
        int64_t iv = (int64_t)(int32_t)v;
        if (which == 3) {
            if (num == 3) s->add_dummy_prefix = iv;
        } else if (num == 3) s->model_type = iv;
        else if (num == 35) s->byte_fallback = iv;
        else if (num == 40) s->unk_id = iv;
        else if (num == 41) s->bos_id = iv;
        else if (num == 42) s->eos_id = iv;
    }
    return 0;
}

/* One SentencePiece message: text, score and type. */
static int read_piece(pb sub, pb *text, float *score, uint8_t *type) {
    text->p = text->end = NULL;
    *score = 0;
    *type = TOK_TYPE_NORMAL;
    while (sub.p < sub.end) {
        uint32_t num;
        uint64_t v = 0;
        pb x = {0};
        if (field(&sub, &num, &v, &x)) return -1;
        if (num == 1) *text = x;
        else if (num == 2 && x.end - x.p == 4) memcpy(score, x.p, 4);
        else if (num == 3) *type = v >= TOK_TYPE_NORMAL && v <= TOK_TYPE_BYTE ? (uint8_t)v : TOK_TYPE_NORMAL;
    }
    return text->p ? 0 : -1;
}

static loom_status load(loom_tokenizer *t, const uint8_t *data, size_t len, uint8_t **types, loom_error *err) {
    spec s = {.model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2, .add_dummy_prefix = 1};
    int32_t n = 0;
    pb r = {data, data + len}, sub;
    uint32_t num;
    uint64_t v;
    while (r.p < r.end) {
        if (field(&r, &num, &v, &sub)) return loom_fail(err, LOOM_ERR_FORMAT, "malformed protobuf");
        if (num == 1 && ++n > (1 << 24)) return loom_fail(err, LOOM_ERR_FORMAT, "too many pieces");
        if ((num == 2 || num == 3) && read_spec(sub, (int)num, &s))
            return loom_fail(err, LOOM_ERR_FORMAT, "malformed protobuf");
    }
    if (s.model_type != 2)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "SentencePiece model type %lld (only BPE)",
                         (long long)s.model_type);
    if (!n) return loom_fail(err, LOOM_ERR_FORMAT, "no pieces");
    if (tok_vocab_init(&t->vocab, n) || !(t->vocab.score = malloc((size_t)n * sizeof(float))) ||
        !(*types = malloc((size_t)n)))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    r = (pb){data, data + len};
    for (int32_t i = 0; r.p < r.end;) {
        field(&r, &num, &v, &sub); /* validated by the first pass */
        if (num != 1) continue;
        pb text;
        if (read_piece(sub, &text, &t->vocab.score[i], &(*types)[i]))
            return loom_fail(err, LOOM_ERR_FORMAT, "piece %d malformed", (int)i);
        if (tok_vocab_set(&t->vocab, i, (const char *)text.p, (size_t)(text.end - text.p), 1))
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        i++;
    }
    tok_vocab_index_bytes(&t->vocab);
    t->unk_id = s.unk_id >= 0 && s.unk_id < n ? (int32_t)s.unk_id : -1;
    t->bos_id = s.bos_id >= 0 && s.bos_id < n ? (int32_t)s.bos_id : -1;
    t->eos_id = s.eos_id >= 0 && s.eos_id < n ? (int32_t)s.eos_id : -1;
    t->fuse_unk = 1;
    if (tok_setup_spm_pipeline(t, s.add_dummy_prefix != 0) || tok_register_typed_tokens(t, *types))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    t->byte_fallback = s.byte_fallback != 0;
    /* nothing is added unless tokenizer_config.json says add_bos_token (transformers 5) */
    return tok_set_post(t, NULL, 0, NULL, 0) ? loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory") : LOOM_OK;
}

loom_status tok_load_spm_model(loom_tokenizer *t, const uint8_t *data, size_t len, const char *name, loom_error *err) {
    uint8_t *types = NULL;
    loom_status st = load(t, data, len, &types, err);
    free(types);
    if (st) error_prefix(err, name);
    return st;
}
