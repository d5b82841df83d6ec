/* Named pre-tokenizers (llama.cpp's tokenizer.ggml.pre values). Each name maps to the pipeline of the
 * Hugging Face tokenizer.json the vocabulary was converted from, so encoding matches HF. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define R_GPT2_NO_TAIL "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define R_LLAMA3_HEAD "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
#define R_LLAMA3_TAIL "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define R_CJK "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+"

typedef struct pre_spec {
    int kind;
    const char *regex;
    int arg;
} pre_spec; /* arg: DIGITS individual, BYTELEVEL use_regex, PUNCT behavior */
typedef struct pre_def {
    const char *names;
    int nfc, ignore_merges;
    pre_spec steps[8];
} pre_def;

static const pre_def PRE_DEFS[] = {
    {" default ",
     0,
     0,
     {{TOK_PRE_SPLIT, "[\\p{P}\\$\\+<=>\\^~\\|]+", 0},
      {TOK_PRE_SPLIT, R_GPT2_NO_TAIL, 0},
      {TOK_PRE_SPLIT, "\\p{N}+", 0},
      {TOK_PRE_SPLIT, "[0-9][0-9][0-9]", 0},
      {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" gpt-2 gpt2 phi-2 roberta-bpe jina-es jina-de jina-v1-en jina-v2-es jina-v2-de jina-v2-code gigachat jais ",
     0,
     0,
     {{TOK_PRE_BYTELEVEL, NULL, 1}}},
    {" mpt gpt-neox olmo ", 1, 0, {{TOK_PRE_BYTELEVEL, NULL, 1}}},
    {" llama3 llama-v3 llama-bpe falcon3 ",
     0,
     1,
     {{TOK_PRE_SPLIT, R_LLAMA3_HEAD "\\p{N}{1,3}" R_LLAMA3_TAIL, 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" dbrx smaug-bpe ",
     0,
     0,
     {{TOK_PRE_SPLIT, R_LLAMA3_HEAD "\\p{N}{1,3}" R_LLAMA3_TAIL, 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" qwen2 qwen2.5 qwen-2.5 deepseek-r1-qwen stablelm2 megrez ",
     1,
     0,
     {{TOK_PRE_SPLIT, R_LLAMA3_HEAD "\\p{N}" R_LLAMA3_TAIL, 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" deepseek-llm ",
     0,
     0,
     {{TOK_PRE_SPLIT, "[\\r\\n]", 0},
      {TOK_PRE_SPLIT,
       "\\s?[A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}\\x{1c4}-"
       "\\x{293}\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}\\x{37f}\\x{386}"
       "\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}"
       "\\x{531}-\\x{556}\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}"
       "\\x{1cbd}-\\x{1cbf}\\x{1d00}-\\x{1d2b}\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-"
       "\\x{1f15}\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}"
       "\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}"
       "\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}\\x{1fe0}-"
       "\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}\\x{210a}-\\x{2113}\\x{2115}"
       "\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}\\x{212f}-\\x{2134}\\x{2139}"
       "\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}\\x{2c00}-\\x{2c7b}"
       "\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}\\x{a680}-"
       "\\x{a69b}\\x{a722}-\\x{a76f}\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}"
       "\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-"
       "\\x{1044f}\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-"
       "\\x{10cf2}\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}]+",
       0},
      {TOK_PRE_SPLIT, "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+", 0},
      {TOK_PRE_SPLIT, "\\s+$", 0},
      {TOK_PRE_SPLIT, R_CJK, 0},
      {TOK_PRE_DIGITS, NULL, 0},
      {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" deepseek-coder ",
     0,
     0,
     {{TOK_PRE_SPLIT, "[\\r\\n]", 0},
      {TOK_PRE_SPLIT, "\\s?\\p{L}+", 0},
      {TOK_PRE_SPLIT, "\\s?\\p{P}+", 0},
      {TOK_PRE_SPLIT, R_CJK, 0},
      {TOK_PRE_DIGITS, NULL, 1},
      {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" falcon ",
     0,
     0,
     {{TOK_PRE_PUNCT, NULL, TOK_SPLIT_CONTIGUOUS},
      {TOK_PRE_BYTELEVEL, NULL, 1},
      {TOK_PRE_DIGITS, NULL, 0},
      {TOK_PRE_SPLIT, "[0-9][0-9][0-9]", 0}}},
    {" starcoder refact command-r smollm codeshell exaone minerva-7b ",
     0,
     0,
     {{TOK_PRE_DIGITS, NULL, 1}, {TOK_PRE_BYTELEVEL, NULL, 1}}},
    {" poro-chat bloom gpt3-finnish ",
     0,
     0,
     {{TOK_PRE_SPLIT, " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{ff0c}\\x{3001}\\x{964}\\x{6d4}\\x{60c})]+", 0},
      {TOK_PRE_BYTELEVEL, NULL, 0}}},
};

static const pre_def *find_pre(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof PRE_DEFS / sizeof *PRE_DEFS; i++) {
        const char *p = PRE_DEFS[i].names;
        while ((p = strstr(p, " ")) && p[1]) {
            p++;
            if (!strncmp(p, name, len) && p[len] == ' ') return &PRE_DEFS[i];
        }
    }
    return NULL;
}

loom_status tok_setup_named_pre(loom_tokenizer *t, const char *name, size_t len, loom_error *err) {
    const pre_def *def = find_pre(name, len);
    if (!def)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "tokenizer.ggml.pre \"%.*s\"", (int)(len > 40 ? 40 : len), name);
    size_t n = 0; /* the steps end at the first all-zero entry */
    while (n < 8 && (def->steps[n].kind != TOK_PRE_SPLIT || def->steps[n].regex)) n++;
    if (!(t->pre = calloc(n, sizeof *t->pre)) || (def->nfc && !(t->norm = calloc(1, sizeof *t->norm))))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    if (def->nfc) t->norm[t->n_norm++].kind = TOK_NORM_NFC;
    for (size_t i = 0; i < n; i++) {
        const pre_spec *sp = &def->steps[i];
        tok_pre_step *s = &t->pre[t->n_pre++];
        s->kind = sp->kind;
        s->behavior = TOK_SPLIT_ISOLATED;
        if (sp->kind == TOK_PRE_DIGITS) s->individual_digits = sp->arg;
        if (sp->kind == TOK_PRE_PUNCT) s->behavior = sp->arg;
        if (sp->regex && !(s->re = tok_regex_compile(sp->regex, strlen(sp->regex), err)))
            return err ? err->status : LOOM_ERR_INTERNAL;
        if (sp->kind == TOK_PRE_BYTELEVEL && sp->arg && !(s->re = tok_regex_gpt2(err)))
            return err ? err->status : LOOM_ERR_INTERNAL;
    }
    t->ignore_merges = def->ignore_merges;
    t->dec.byte_level = 1;
    return LOOM_OK;
}
