/* Named pre-tokenizers (llama.cpp's tokenizer.ggml.pre values). Each name maps to the pipeline of the
 * Hugging Face tokenizer.json the vocabulary was converted from, so encoding matches HF. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define R_GPT2_NO_TAIL "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define R_LLAMA3_HEAD "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
#define R_LLAMA3_TAIL "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define R_CJK "[一-龥ࠀ-一가-퟿]+"

typedef struct pre_spec { int kind; const char *regex; int arg; } pre_spec; /* arg: DIGITS individual, BYTELEVEL use_regex, PUNCT behavior */
typedef struct pre_def { const char *names; int nfc, ignore_merges; pre_spec steps[8]; } pre_def;

static const pre_def PRE_DEFS[] = {
    {" default ", 0, 0, {{TOK_PRE_SPLIT, "[\\p{P}\\$\\+<=>\\^~\\|]+", 0}, {TOK_PRE_SPLIT, R_GPT2_NO_TAIL, 0},
                         {TOK_PRE_SPLIT, "\\p{N}+", 0}, {TOK_PRE_SPLIT, "[0-9][0-9][0-9]", 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" gpt-2 gpt2 phi-2 roberta-bpe jina-es jina-de jina-v1-en jina-v2-es jina-v2-de jina-v2-code gigachat jais ", 0, 0,
     {{TOK_PRE_BYTELEVEL, NULL, 1}}},
    {" mpt gpt-neox olmo ", 1, 0, {{TOK_PRE_BYTELEVEL, NULL, 1}}},
    {" llama3 llama-v3 llama-bpe falcon3 ", 0, 1, {{TOK_PRE_SPLIT, R_LLAMA3_HEAD "\\p{N}{1,3}" R_LLAMA3_TAIL, 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" dbrx smaug-bpe ", 0, 0, {{TOK_PRE_SPLIT, R_LLAMA3_HEAD "\\p{N}{1,3}" R_LLAMA3_TAIL, 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" qwen2 qwen2.5 qwen-2.5 deepseek-r1-qwen stablelm2 megrez ", 1, 0,
     {{TOK_PRE_SPLIT, R_LLAMA3_HEAD "\\p{N}" R_LLAMA3_TAIL, 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" deepseek-llm ", 0, 0,
     {{TOK_PRE_SPLIT, "[\\r\\n]", 0},
      {TOK_PRE_SPLIT, "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-"
                      "ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-"
                      "ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+", 0},
      {TOK_PRE_SPLIT, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", 0}, {TOK_PRE_SPLIT, "\\s+$", 0}, {TOK_PRE_SPLIT, R_CJK, 0},
      {TOK_PRE_DIGITS, NULL, 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" deepseek-coder ", 0, 0,
     {{TOK_PRE_SPLIT, "[\\r\\n]", 0}, {TOK_PRE_SPLIT, "\\s?\\p{L}+", 0}, {TOK_PRE_SPLIT, "\\s?\\p{P}+", 0},
      {TOK_PRE_SPLIT, R_CJK, 0}, {TOK_PRE_DIGITS, NULL, 1}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
    {" falcon ", 0, 0,
     {{TOK_PRE_PUNCT, NULL, TOK_SPLIT_CONTIGUOUS}, {TOK_PRE_BYTELEVEL, NULL, 1}, {TOK_PRE_DIGITS, NULL, 0},
      {TOK_PRE_SPLIT, "[0-9][0-9][0-9]", 0}}},
    {" starcoder refact command-r smollm codeshell exaone minerva-7b ", 0, 0, {{TOK_PRE_DIGITS, NULL, 1}, {TOK_PRE_BYTELEVEL, NULL, 1}}},
    {" poro-chat bloom gpt3-finnish ", 0, 0, {{TOK_PRE_SPLIT, " ?[^(\\s|.,!?…。，、।۔،)]+", 0}, {TOK_PRE_BYTELEVEL, NULL, 0}}},
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
    if (!def) return loom_fail(err, LOOM_ERR_UNSUPPORTED, "tokenizer.ggml.pre \"%.*s\"", (int)(len > 40 ? 40 : len), name);
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
        if (sp->regex && !(s->re = tok_regex_compile(sp->regex, strlen(sp->regex), err))) return err ? err->status : LOOM_ERR_INTERNAL;
        if (sp->kind == TOK_PRE_BYTELEVEL && sp->arg && !(s->re = tok_regex_gpt2(err))) return err ? err->status : LOOM_ERR_INTERNAL;
    }
    t->ignore_merges = def->ignore_merges;
    t->dec.byte_level = 1;
    return LOOM_OK;
}

