/* Hugging Face tokenizer.json: model BPE (vocab, merges as "a b" or ["a", "b"]), added_tokens,
 * normalizer, pre_tokenizer, decoder and post_processor, mapped onto the internal pipeline. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

enum { MAX_VOCAB = 1 << 24 };

static const char *jstr(const json_t *o, const char *key, size_t *len) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return NULL;
    if (len) *len = json_string_length(v);
    return json_string_value(v);
}

static int jbool(const json_t *o, const char *key, int def) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* ---- model ---- */

static loom_status load_vocab(loom_tokenizer *t, const json_t *model, const json_t *added, loom_error *err) {
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return loom_fail(err, LOOM_ERR_FORMAT, "model.vocab is not an object");
    json_int_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= MAX_VOCAB)
            return loom_fail(err, LOOM_ERR_FORMAT, "model.vocab: bad id for \"%.40s\"", key);
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    size_t i;
    json_array_foreach(added, i, val) {
        json_t *id = json_object_get(val, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= MAX_VOCAB ||
            !jstr(val, "content", NULL))
            return loom_fail(err, LOOM_ERR_FORMAT, "added_tokens[%zu]: needs an id in range and a content string", i);
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    if (tok_vocab_init(&t->vocab, (int32_t)(max_id + 1))) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    size_t klen;
    json_object_keylen_foreach(vocab, key, klen,
                               val) if (tok_vocab_set(&t->vocab, (int32_t)json_integer_value(val), key, klen,
                                                      1)) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    json_array_foreach(added, i, val) {
        size_t len = 0;
        const char *content = jstr(val, "content", &len);
        tok_added a = {.id = (int32_t)json_integer_value(json_object_get(val, "id")),
                       .lstrip = (uint8_t)jbool(val, "lstrip", 0),
                       .rstrip = (uint8_t)jbool(val, "rstrip", 0),
                       .single_word = (uint8_t)jbool(val, "single_word", 0),
                       .normalized = (uint8_t)jbool(val, "normalized", !jbool(val, "special", 0)),
                       .special = (uint8_t)jbool(val, "special", 0)};
        t->vocab.special[a.id] = a.special;
        if (tok_vocab_set(&t->vocab, a.id, content, len, 0) || tok_added_add(&t->added, &a))
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    tok_vocab_index_bytes(&t->vocab);
    return tok_added_build(&t->added, &t->vocab) ? loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory") : LOOM_OK;
}

static loom_status load_merges(loom_tokenizer *t, const json_t *merges, loom_error *err) {
    if (!merges) return LOOM_OK;
    if (!json_is_array(merges)) return loom_fail(err, LOOM_ERR_FORMAT, "model.merges is not an array");
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        int rc;
        if (i >= INT32_MAX) return loom_fail(err, LOOM_ERR_FORMAT, "too many merges");
        if (json_is_string(m)) {
            rc = tok_bpe_add_merge_line(t, json_string_value(m), json_string_length(m), (int32_t)i);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
            rc = tok_bpe_add_merge(t, json_string_value(a), json_string_length(a), json_string_value(b),
                                   json_string_length(b), (int32_t)i);
        } else {
            return loom_fail(err, LOOM_ERR_FORMAT, "model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", i);
        }
        if (rc < 0) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        if (rc > 0) return loom_fail(err, LOOM_ERR_FORMAT, "model.merges[%zu] uses a token missing from the vocab", i);
    }
    return LOOM_OK;
}

static loom_status load_model(loom_tokenizer *t, const json_t *model, loom_error *err) {
    const char *type = jstr(model, "type", NULL);
    if (!json_is_object(model)) return loom_fail(err, LOOM_ERR_FORMAT, "no model object");
    if (type && strcmp(type, "BPE") != 0) return loom_fail(err, LOOM_ERR_UNSUPPORTED, "model type \"%.40s\"", type);
    size_t len;
    if ((jstr(model, "continuing_subword_prefix", &len) && len) || (jstr(model, "end_of_word_suffix", &len) && len))
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "BPE continuing_subword_prefix / end_of_word_suffix");
    json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "BPE dropout");
    t->model = TOK_MODEL_BPE;
    t->byte_fallback = jbool(model, "byte_fallback", 0);
    t->fuse_unk = jbool(model, "fuse_unk", 0);
    t->ignore_merges = jbool(model, "ignore_merges", 0);
    const char *unk = jstr(model, "unk_token", &len);
    if (unk && (t->unk_id = tok_strmap_get(&t->vocab.model, unk, len)) < 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "unk_token \"%.40s\" is not in the vocab", unk);
    return load_merges(t, json_object_get(model, "merges"), err);
}

/* ---- normalizer ---- */

static loom_status add_norm(loom_tokenizer *t, const json_t *n, loom_error *err) {
    const char *type = jstr(n, "type", NULL);
    if (!type) return loom_fail(err, LOOM_ERR_FORMAT, "normalizer without a type");
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers"), *item;
        size_t i;
        if (!json_is_array(list)) return loom_fail(err, LOOM_ERR_FORMAT, "normalizer Sequence without normalizers");
        json_array_foreach(list, i, item) {
            loom_status st = add_norm(t, item, err);
            if (st) return st;
        }
        return LOOM_OK;
    }
    tok_norm_step s = {0};
    size_t la, lb;
    const char *a, *b;
    if (!strcmp(type, "NFC")) s.kind = TOK_NORM_NFC;
    else if (!strcmp(type, "NFD")) s.kind = TOK_NORM_NFD;
    else if (!strcmp(type, "NFKC")) s.kind = TOK_NORM_NFKC;
    else if (!strcmp(type, "NFKD")) s.kind = TOK_NORM_NFKD;
    else if (!strcmp(type, "Lowercase")) s.kind = TOK_NORM_LOWERCASE;
    else if (!strcmp(type, "Strip")) {
        s.kind = TOK_NORM_STRIP;
        s.left = jbool(n, "strip_left", 1);
        s.right = jbool(n, "strip_right", 1);
    } else if (!strcmp(type, "Prepend") && (a = jstr(n, "prepend", &la))) {
        s.kind = TOK_NORM_PREPEND;
        if (!(s.a = dup_n(a, la))) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        s.a_len = la;
    } else if (!strcmp(type, "Replace") && (a = jstr(json_object_get(n, "pattern"), "String", &la)) &&
               (b = jstr(n, "content", &lb))) {
        s.kind = TOK_NORM_REPLACE;
        s.a = dup_n(a, la);
        s.b = dup_n(b, lb);
        s.a_len = la;
        s.b_len = lb;
        if (!s.a || !s.b) {
            free(s.a);
            free(s.b);
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        }
    } else {
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "normalizer \"%.40s\"", type);
    }
    tok_norm_step *p = realloc(t->norm, (t->n_norm + 1) * sizeof *p);
    if (!p) {
        free(s.a);
        free(s.b);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    t->norm = p;
    t->norm[t->n_norm++] = s;
    return LOOM_OK;
}

/* ---- pre-tokenizer ---- */

static int parse_behavior(const char *b) {
    if (!b || !strcmp(b, "Isolated")) return TOK_SPLIT_ISOLATED;
    if (!strcmp(b, "Removed")) return TOK_SPLIT_REMOVED;
    if (!strcmp(b, "MergedWithPrevious")) return TOK_SPLIT_MERGED_PREV;
    if (!strcmp(b, "MergedWithNext")) return TOK_SPLIT_MERGED_NEXT;
    if (!strcmp(b, "Contiguous")) return TOK_SPLIT_CONTIGUOUS;
    return -1;
}

/* Metaspace's prepend_scheme, or the older add_prefix_space flag. */
static int parse_prepend(const json_t *o) {
    const char *s = jstr(o, "prepend_scheme", NULL);
    if (s)
        return !strcmp(s, "first") ? TOK_PREPEND_FIRST : !strcmp(s, "never") ? TOK_PREPEND_NEVER : TOK_PREPEND_ALWAYS;
    return jbool(o, "add_prefix_space", 1) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
}

/* A literal string pattern as a regex. */
static pcre2_code *literal_regex(const char *s, size_t n, loom_error *err) {
    tok_buf b = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            char e[8];
            int l = snprintf(e, sizeof e, "\\x{%x}", c);
            rc = tok_buf_append(&b, e, (size_t)l);
        } else {
            rc = tok_buf_append(&b, s + i, 1);
        }
    }
    pcre2_code *re = rc ? NULL : tok_regex_compile(b.data ? b.data : "", b.len, err);
    if (rc) loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    tok_buf_free(&b);
    return re;
}

static loom_status add_pre(loom_tokenizer *t, const json_t *n, loom_error *err) {
    const char *type = jstr(n, "type", NULL);
    if (!type) return loom_fail(err, LOOM_ERR_FORMAT, "pre_tokenizer without a type");
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "pretokenizers"), *item;
        size_t i;
        if (!json_is_array(list))
            return loom_fail(err, LOOM_ERR_FORMAT, "pre_tokenizer Sequence without pretokenizers");
        json_array_foreach(list, i, item) {
            loom_status st = add_pre(t, item, err);
            if (st) return st;
        }
        return LOOM_OK;
    }
    tok_pre_step s = {0};
    s.behavior = TOK_SPLIT_ISOLATED;
    size_t len;
    const char *str;
    if (!strcmp(type, "Split")) {
        json_t *pat = json_object_get(n, "pattern");
        s.kind = TOK_PRE_SPLIT;
        s.invert = jbool(n, "invert", 0);
        if ((s.behavior = parse_behavior(jstr(n, "behavior", NULL))) < 0)
            return loom_fail(err, LOOM_ERR_UNSUPPORTED, "Split behavior");
        if ((str = jstr(pat, "Regex", &len))) s.re = tok_regex_compile(str, len, err);
        else if ((str = jstr(pat, "String", &len))) s.re = literal_regex(str, len, err);
        else return loom_fail(err, LOOM_ERR_FORMAT, "Split without a pattern");
        if (!s.re) return err ? err->status : LOOM_ERR_FORMAT;
    } else if (!strcmp(type, "ByteLevel")) {
        s.kind = TOK_PRE_BYTELEVEL;
        s.add_prefix_space = jbool(n, "add_prefix_space", 1);
        if (jbool(n, "use_regex", 1) && !(s.re = tok_regex_gpt2(err))) return err ? err->status : LOOM_ERR_INTERNAL;
    } else if (!strcmp(type, "Digits")) {
        s.kind = TOK_PRE_DIGITS;
        s.individual_digits = jbool(n, "individual_digits", 0);
    } else if (!strcmp(type, "Punctuation")) {
        s.kind = TOK_PRE_PUNCT;
        if ((s.behavior = parse_behavior(jstr(n, "behavior", NULL))) < 0)
            return loom_fail(err, LOOM_ERR_UNSUPPORTED, "Punctuation behavior");
    } else if (!strcmp(type, "WhitespaceSplit")) {
        s.kind = TOK_PRE_WHITESPACE_SPLIT;
    } else if (!strcmp(type, "Whitespace")) {
        static const char ws[] = "\\w+|[^\\w\\s]+";
        s.kind = TOK_PRE_SPLIT;
        s.behavior = TOK_SPLIT_REMOVED;
        s.invert = 1;
        if (!(s.re = tok_regex_compile(ws, sizeof ws - 1, err))) return err ? err->status : LOOM_ERR_INTERNAL;
    } else if (!strcmp(type, "Metaspace")) {
        s.kind = TOK_PRE_METASPACE;
        str = jstr(n, "replacement", &len);
        if (!str || !len || len > 4) return loom_fail(err, LOOM_ERR_FORMAT, "Metaspace replacement");
        memcpy(s.repl, str, len);
        s.repl_len = len;
        s.prepend_scheme = parse_prepend(n);
        s.split = jbool(n, "split", 1);
    } else {
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "pre_tokenizer \"%.40s\"", type);
    }
    tok_pre_step *p = realloc(t->pre, (t->n_pre + 1) * sizeof *p);
    if (!p) {
        tok_pre_step_free(&s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    t->pre = p;
    t->pre[t->n_pre++] = s;
    return LOOM_OK;
}

/* ---- decoder ---- */

static loom_status add_replace(tok_decoder *d, const char *from, size_t fl, const char *to, size_t tl,
                               loom_error *err) {
    tok_replace *p = realloc(d->replaces, (d->n_replaces + 1) * sizeof *p);
    if (!p) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    d->replaces = p;
    tok_replace r = {dup_n(from, fl), dup_n(to, tl), fl, tl};
    if (!r.from || !r.to) {
        free(r.from);
        free(r.to);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    d->replaces[d->n_replaces++] = r;
    return LOOM_OK;
}

static loom_status add_decoder(loom_tokenizer *t, const json_t *n, loom_error *err) {
    tok_decoder *d = &t->dec;
    const char *type = jstr(n, "type", NULL), *a, *b;
    size_t la, lb;
    if (!type) return loom_fail(err, LOOM_ERR_FORMAT, "decoder without a type");
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "decoders"), *item;
        size_t i;
        if (!json_is_array(list)) return loom_fail(err, LOOM_ERR_FORMAT, "decoder Sequence without decoders");
        json_array_foreach(list, i, item) {
            loom_status st = add_decoder(t, item, err);
            if (st) return st;
        }
        return LOOM_OK;
    }
    if (!strcmp(type, "ByteFallback")) d->byte_fallback = 1;
    else if (!strcmp(type, "ByteLevel")) d->byte_level = 1;
    else if (!strcmp(type, "Fuse")) return LOOM_OK; /* the stream is concatenated anyway */
    else if (!strcmp(type, "Replace") && (a = jstr(json_object_get(n, "pattern"), "String", &la)) &&
             (b = jstr(n, "content", &lb)))
        return add_replace(d, a, la, b, lb, err);
    else if (!strcmp(type, "Strip")) {
        json_t *start = json_object_get(n, "start"), *stop = json_object_get(n, "stop");
        a = jstr(n, "content", &la);
        if (!a || la != 1 || *a != ' ' || (json_is_integer(stop) && json_integer_value(stop) != 0) ||
            !json_is_integer(start) || json_integer_value(start) < 0 || json_integer_value(start) > 64)
            return loom_fail(err, LOOM_ERR_UNSUPPORTED, "Strip decoder other than leading spaces");
        d->strip_start = (int)json_integer_value(start);
    } else if (!strcmp(type, "Metaspace") && (a = jstr(n, "replacement", &la))) {
        if (parse_prepend(n) != TOK_PREPEND_NEVER) {
            free(d->meta_first);
            if (!(d->meta_first = dup_n(a, la))) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
            d->meta_first_len = la;
        }
        return add_replace(d, a, la, " ", 1, err);
    } else {
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "decoder \"%.40s\"", type);
    }
    return LOOM_OK;
}

/* ---- post-processor ---- */

static loom_status template_ids(loom_tokenizer *t, const json_t *pp, tok_ids *pre, tok_ids *suf, int *seen_seq,
                                loom_error *err) {
    const char *type = jstr(pp, "type", NULL);
    if (!type) return loom_fail(err, LOOM_ERR_FORMAT, "post_processor without a type");
    if (!strcmp(type, "ByteLevel")) return LOOM_OK;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(pp, "processors"), *item;
        size_t i;
        json_array_foreach(list, i, item) {
            loom_status st = template_ids(t, item, pre, suf, seen_seq, err);
            if (st) return st;
        }
        return LOOM_OK;
    }
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        json_t *cls = json_array_get(json_object_get(pp, "cls"), 1),
               *sep = json_array_get(json_object_get(pp, "sep"), 1);
        if (!json_is_integer(cls) || !json_is_integer(sep) ||
            !tok_vocab_has(&t->vocab, (int32_t)json_integer_value(cls)) ||
            !tok_vocab_has(&t->vocab, (int32_t)json_integer_value(sep)))
            return loom_fail(err, LOOM_ERR_FORMAT, "%s without valid cls/sep ids", type);
        *seen_seq = 1;
        return tok_ids_push(pre, (int32_t)json_integer_value(cls)) ||
                tok_ids_push(suf, (int32_t)json_integer_value(sep))
            ? loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory")
            : LOOM_OK;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "post_processor \"%.40s\"", type);
    json_t *single = json_object_get(pp, "single"), *specials = json_object_get(pp, "special_tokens"), *item;
    size_t i;
    if (!json_is_array(single)) return loom_fail(err, LOOM_ERR_FORMAT, "TemplateProcessing without single");
    json_array_foreach(single, i, item) {
        if (json_object_get(item, "Sequence")) {
            *seen_seq = 1;
            continue;
        }
        const char *name = jstr(json_object_get(item, "SpecialToken"), "id", NULL);
        json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids"), *id;
        size_t j;
        if (!name || !json_is_array(ids))
            return loom_fail(err, LOOM_ERR_FORMAT, "TemplateProcessing: unknown piece in single");
        json_array_foreach(ids, j, id) {
            if (!json_is_integer(id) || !tok_vocab_has(&t->vocab, (int32_t)json_integer_value(id)))
                return loom_fail(err, LOOM_ERR_FORMAT, "TemplateProcessing: special token id out of range");
            if (tok_ids_push(*seen_seq ? suf : pre, (int32_t)json_integer_value(id)))
                return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        }
    }
    return LOOM_OK;
}

static loom_status load_post(loom_tokenizer *t, const json_t *pp, loom_error *err) {
    tok_ids pre = {0}, suf = {0};
    int seen_seq = 0;
    loom_status st = json_is_object(pp) ? template_ids(t, pp, &pre, &suf, &seen_seq, err) : LOOM_OK;
    if (!st && tok_set_post(t, pre.data, pre.len, suf.data, suf.len))
        st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    if (!st && pre.len) t->bos_id = pre.data[0];
    if (!st && suf.len) t->eos_id = suf.data[suf.len - 1];
    tok_ids_free(&pre);
    tok_ids_free(&suf);
    return st;
}

loom_status tok_load_hf_json(loom_tokenizer *t, const char *data, size_t len, const char *name, loom_error *err) {
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_ALLOW_NUL, &je);
    if (!root) {
        loom_fail(err, LOOM_ERR_FORMAT, "%s: invalid JSON at line %d: %s", name, je.line, je.text);
        return LOOM_ERR_FORMAT;
    }
    json_t *added = json_object_get(root, "added_tokens"), *n;
    if (added && !json_is_array(added)) added = NULL;
    loom_status st = json_is_object(root) ? load_vocab(t, json_object_get(root, "model"), added, err)
                                          : loom_fail(err, LOOM_ERR_FORMAT, "not a JSON object");
    if (!st) st = load_model(t, json_object_get(root, "model"), err);
    if (!st && json_is_object(n = json_object_get(root, "normalizer"))) st = add_norm(t, n, err);
    if (!st && json_is_object(n = json_object_get(root, "pre_tokenizer"))) st = add_pre(t, n, err);
    if (!st) {
        n = json_object_get(root, "decoder");
        if (json_is_object(n)) st = add_decoder(t, n, err);
        else t->dec.join_space = 1;
    }
    if (!st) st = load_post(t, json_object_get(root, "post_processor"), err);
    json_decref(root);
    if (st) error_prefix(err, name);
    return st;
}
