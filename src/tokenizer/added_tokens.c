/* Added tokens: matched in the text before the model runs, leftmost-longest (as HF's Aho-Corasick
 * with MatchKind::LeftmostLongest), honouring single_word, lstrip and rstrip. Tokens with
 * normalized = false are matched on the original text, the others on the normalized text. */
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "tokenizer/tok_internal.h"

int tok_added_add(tok_added_set *a, const tok_added *tok) {
    for (size_t i = 0; i < a->n; i++)
        if (a->items[i].id == tok->id) {
            a->items[i] = *tok;
            return 0;
        }
    if (grow(&a->items, &a->cap, a->n, sizeof *a->items, 16)) return -1;
    a->items[a->n++] = *tok;
    return 0;
}

static int32_t trie_new_node(tok_trie *tr, uint8_t byte) {
    if (grow(&tr->nodes, &tr->cap, tr->n, sizeof *tr->nodes, 64)) return -1;
    tr->nodes[tr->n] = (tok_trie_node){-1, -1, -1, byte};
    return (int32_t)tr->n++;
}

static int32_t trie_child(const tok_trie *tr, int32_t node, uint8_t byte) {
    for (int32_t c = tr->nodes[node].child; c >= 0; c = tr->nodes[c].sibling)
        if (tr->nodes[c].byte == byte) return c;
    return -1;
}

static int trie_insert(tok_trie *tr, const char *s, size_t len, int32_t item) {
    if (!tr->n && trie_new_node(tr, 0) < 0) return -1;
    if (!len) return 0;
    tr->first[(uint8_t)s[0] >> 3] |= (uint8_t)(1u << ((uint8_t)s[0] & 7));
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t c = trie_child(tr, node, (uint8_t)s[i]);
        if (c < 0) {
            if ((c = trie_new_node(tr, (uint8_t)s[i])) < 0) return -1;
            tr->nodes[c].sibling = tr->nodes[node].child;
            tr->nodes[node].child = c;
        }
        node = c;
    }
    if (tr->nodes[node].added < 0) tr->nodes[node].added = item;
    return 0;
}

int tok_added_build(tok_added_set *a, const tok_vocab *v) {
    free(a->raw.nodes);
    free(a->norm.nodes);
    memset(&a->raw, 0, sizeof a->raw);
    memset(&a->norm, 0, sizeof a->norm);
    for (size_t i = 0; i < a->n; i++) {
        if (!tok_vocab_has(v, a->items[i].id)) continue;
        size_t len;
        const char *s = tok_vocab_text(v, a->items[i].id, &len);
        if (trie_insert(a->items[i].normalized ? &a->norm : &a->raw, s, len, (int32_t)i)) return -1;
    }
    return 0;
}

static size_t prev_char(const char *s, size_t i) {
    do i--;
    while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80);
    return i;
}

static int32_t cp_at(const char *s, size_t n, size_t i) {
    int32_t cp = -1;
    if (utf8_seq_len((const uint8_t *)s + i, n - i)) utf8_decode(s + i, n - i, &cp);
    return cp;
}

static int push_split(tok_splits *out, size_t off, size_t len, int32_t id) {
    if (grow(&out->data, &out->cap, out->len, sizeof *out->data, 16)) return -1;
    out->data[out->len++] = (tok_split){off, len, id};
    return 0;
}

/* Longest token of the trie starting at s[i]: its item index (end in *end), or -1. */
static int32_t longest_at(const tok_trie *tr, const char *s, size_t n, size_t i, size_t *end) {
    int32_t node = 0, best = -1;
    for (size_t j = i; j < n; j++) {
        if ((node = trie_child(tr, node, (uint8_t)s[j])) < 0) break;
        if (tr->nodes[node].added >= 0) {
            best = tr->nodes[node].added;
            *end = j + 1;
        }
    }
    return best;
}

int tok_added_split(const tok_added_set *a, int which, const char *s, size_t n, size_t base, tok_splits *out) {
    const tok_trie *tr = which ? &a->norm : &a->raw;
    size_t done = 0; /* text before this offset has been emitted */
    for (size_t i = 0; tr->n && i < n;) {
        size_t stop = 0;
        int32_t item = (tr->first[(uint8_t)s[i] >> 3] >> ((uint8_t)s[i] & 7)) & 1 ? longest_at(tr, s, n, i, &stop) : -1;
        if (item < 0) {
            i++;
            continue;
        }
        const tok_added *tk = &a->items[item];
        size_t start = i;
        i = stop;
        if (tk->single_word) {
            int word_before = start > 0 && tok_cp_is_word(cp_at(s, n, prev_char(s, start)));
            int word_after = stop < n && tok_cp_is_word(cp_at(s, n, stop));
            if (word_before || word_after) continue;
        }
        if (tk->lstrip) {
            size_t ns = start;
            while (ns > 0 && tok_cp_is_whitespace(cp_at(s, n, prev_char(s, ns)))) ns = prev_char(s, ns);
            start = ns > done ? ns : done;
        }
        if (tk->rstrip) {
            while (stop < n && tok_cp_is_whitespace(cp_at(s, n, stop)))
                stop += utf8_seq_len((const uint8_t *)s + stop, n - stop);
        }
        if (done < start && push_split(out, base + done, start - done, -1)) return -1;
        if (push_split(out, base + start, stop - start, tk->id)) return -1;
        done = stop;
    }
    if (done < n && push_split(out, base + done, n - done, -1)) return -1;
    return 0;
}

void tok_added_free(tok_added_set *a) {
    free(a->items);
    free(a->raw.nodes);
    free(a->norm.nodes);
    memset(a, 0, sizeof *a);
}
