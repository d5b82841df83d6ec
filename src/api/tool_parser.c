/* Reading tool calls out of a model's text as it streams (formats: tool_calls.h). One byte at a time:
 * free text is content, except a tail that may still become the format's opener (held back); after
 * the opener come call objects, read by a small JSON scanner that tracks the object's top-level keys:
 * "name" (announced with the call's id as soon as it is whole) and "arguments" / "parameters", whose
 * text is passed on as it arrives. Whitespace-only content is held until something else comes: beside
 * calls it is dropped (the newlines between <tool_call> blocks), alone it is the content. Text that
 * breaks the format after an opener is handed back as content (and the parser says it failed). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/tool_calls.h"

typedef struct buf {
    char *s;
    size_t n, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) return -1;
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

static void buf_clear(buf *b) { b->n = 0; }
static void buf_free(buf *b) { free(b->s); }

typedef enum pstate {
    P_TEXT,      /* free text, watching for the opener (hermes, mistral) */
    P_START,     /* llama3_json, hermes: before the answer's first non-space character */
    P_ENDTEXT,   /* llama3_json: the answer is text */
    P_LIST_OPEN, /* mistral: after [TOOL_CALLS], before '[' */
    P_OBJ_OPEN,  /* before a call's '{' */
    P_OBJ,       /* inside a call object */
    P_AFTER_OBJ, /* after a call: its close or the separator */
} pstate;

typedef enum ostate { O_KEY_OR_END, O_KEY, O_COLON, O_VALUE_START, O_VALUE, O_AFTER_VALUE } ostate;
typedef enum vrole { V_OTHER, V_NAME, V_ARGS } vrole;

struct api_tool_parser {
    api_tool_format f;
    pstate st;
    uint64_t id_seed;
    buf hold;          /* P_TEXT / P_START: text not yet known to be content */
    buf ws;            /* whitespace-only content not yet given out */
    buf raw;           /* the calls section so far, from its opener (given back as content on failure) */
    buf key;           /* the key being read */
    buf name;          /* the "name" value's JSON text */
    buf args;          /* argument text not yet given out */
    size_t close_at;   /* hermes P_AFTER_OBJ: bytes of </tool_call> matched */
    int32_t n_calls;   /* calls completed */
    int32_t n_started; /* calls announced: the current one's index is n_started - 1 once announced */
    int cur_announced; /* the call object being read has been announced */
    int section_calls; /* calls announced in this section */
    int failed, oom;
    int bad;      /* the current call broke the format */
    int bare;     /* hermes: calls written as bare objects at the start of the answer (no <tool_call>) */
    char **names; /* the functions a call may name (NULL: any) */
    size_t n_names;
    /* the object scanner */
    ostate os;
    vrole role;
    int key_esc, args_seen, args_string;   /* args_string: the arguments are a JSON string (decoded whole) */
    int vdepth, v_in_str, v_esc, v_scalar; /* the current value */
};

static const char *const openers[] = {"<tool_call>", "<|python_tag|>", "[TOOL_CALLS]"};
static const char hermes_close[] = "</tool_call>";

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

api_tool_parser *api_tool_parser_create(api_tool_format f, int opened, uint64_t id_seed, const char *tools_json) {
    api_tool_parser *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->f = f;
    p->id_seed = id_seed;
    p->st = f == API_TOOLS_MISTRAL ? P_TEXT : P_START;
    if (opened) p->st = f == API_TOOLS_MISTRAL ? P_LIST_OPEN : P_OBJ_OPEN;
    json_t *tools = tools_json ? json_loads(tools_json, 0, NULL) : NULL;
    size_t n = json_array_size(tools);
    if (tools && !(p->names = calloc(n ? n : 1, sizeof *p->names))) p->oom = 1;
    for (size_t i = 0; p->names && i < n; i++) {
        const char *name =
            json_string_value(json_object_get(json_object_get(json_array_get(tools, i), "function"), "name"));
        if (name && !(p->names[p->n_names++] = strdup(name))) p->oom = 1;
    }
    json_decref(tools);
    if (p->oom || (tools_json && !tools)) {
        api_tool_parser_free(p);
        return NULL;
    }
    return p;
}

void api_tool_parser_free(api_tool_parser *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_names; i++) free(p->names[i]);
    free(p->names);
    buf *bufs[] = {&p->hold, &p->ws, &p->raw, &p->key, &p->name, &p->args};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) buf_free(bufs[i]);
    free(p);
}

void api_tool_delta_clear(api_tool_delta *d) {
    free(d->content);
    for (size_t i = 0; i < d->n_calls; i++) {
        free(d->calls[i].id);
        free(d->calls[i].name);
        free(d->calls[i].arguments);
    }
    free(d->calls);
    memset(d, 0, sizeof *d);
}

int32_t api_tool_parser_calls(const api_tool_parser *p) { return p->n_calls; }
int api_tool_parser_failed(const api_tool_parser *p) { return p->failed; }

/* ---- output ---- */

static void append_str(api_tool_parser *p, char **dst, const char *s, size_t n) {
    size_t have = *dst ? strlen(*dst) : 0;
    char *grown = realloc(*dst, have + n + 1);
    if (!grown) {
        p->oom = 1;
        return;
    }
    memcpy(grown + have, s, n);
    grown[have + n] = 0;
    *dst = grown;
}

static void content(api_tool_parser *p, api_tool_delta *d, const char *s, size_t n) {
    size_t k = 0;
    while (k < n && is_space(s[k])) k++;
    if (k == n) { /* only whitespace: held until it is known whether calls are beside it */
        if (buf_add(&p->ws, s, n)) p->oom = 1;
        return;
    }
    if (p->ws.n) append_str(p, &d->content, p->ws.s, p->ws.n);
    buf_clear(&p->ws);
    append_str(p, &d->content, s, n);
}

static api_tool_call_delta *call_delta(api_tool_parser *p, api_tool_delta *d) {
    int32_t index = p->n_started - 1;
    if (d->n_calls && d->calls[d->n_calls - 1].index == index) return &d->calls[d->n_calls - 1];
    if (d->n_calls == d->cap_calls) {
        size_t cap = d->cap_calls ? d->cap_calls * 2 : 4;
        api_tool_call_delta *grown = realloc(d->calls, cap * sizeof *grown);
        if (!grown) {
            p->oom = 1;
            return NULL;
        }
        d->calls = grown;
        d->cap_calls = cap;
    }
    api_tool_call_delta *c = &d->calls[d->n_calls++];
    *c = (api_tool_call_delta){.index = index};
    append_str(p, &c->arguments, "", 0);
    return c;
}

static void make_id(api_tool_parser *p, char *out) {
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t z = p->id_seed + 0x9e3779b97f4a7c15ull * (uint64_t)(p->n_started + 1);
    int n = p->f == API_TOOLS_MISTRAL ? 9 : 24, at = 0;
    if (p->f != API_TOOLS_MISTRAL) memcpy(out, "call_", 5), at = 5;
    for (int i = 0; i < n; i++) {
        z ^= z >> 31, z *= 0xbf58476d1ce4e5b9ull, z ^= z >> 27, z *= 0x94d049bb133111ebull, z ^= z >> 29;
        out[at++] = alnum[z % 62];
    }
    out[at] = 0;
}

/* The name is whole: announce the call, with any argument text read before it. */
static void announce(api_tool_parser *p, api_tool_delta *d) {
    json_t *name = json_loadb(p->name.s, p->name.n, JSON_DECODE_ANY, NULL);
    size_t k = 0;
    while (json_is_string(name) && k < p->n_names && strcmp(p->names[k], json_string_value(name))) k++;
    if (!json_is_string(name) || json_string_length(name) == 0 || (p->names && k == p->n_names)) {
        json_decref(name); /* not a call of one of the tools */
        p->bad = 1;
        return;
    }
    char id[40];
    make_id(p, id);
    p->n_started++;
    p->cur_announced = 1;
    p->section_calls++;
    api_tool_call_delta *c = call_delta(p, d);
    if (c) {
        append_str(p, &c->id, id, strlen(id));
        append_str(p, &c->name, json_string_value(name), json_string_length(name));
    }
    json_decref(name);
}

static int announced(const api_tool_parser *p) { return p->cur_announced; }

/* Argument text goes out once the call is announced (a string value only when whole: it is decoded). */
static void flush_args(api_tool_parser *p, api_tool_delta *d, int whole) {
    if (!announced(p) || !p->args.n || (p->args_string && !whole)) return;
    api_tool_call_delta *c = call_delta(p, d);
    if (!c) return;
    if (p->args_string) {
        json_t *s = json_loadb(p->args.s, p->args.n, JSON_DECODE_ANY, NULL);
        if (json_is_string(s)) append_str(p, &c->arguments, json_string_value(s), json_string_length(s));
        else p->bad = 1;
        json_decref(s);
    } else {
        append_str(p, &c->arguments, p->args.s, p->args.n);
    }
    buf_clear(&p->args);
}

/* ---- the call object ---- */

static void start_value(api_tool_parser *p, char c) {
    p->os = O_VALUE;
    p->vdepth = c == '{' || c == '[';
    p->v_in_str = c == '"';
    p->v_esc = 0;
    p->v_scalar = !p->vdepth && !p->v_in_str;
    p->role = !strcmp(p->key.s ? p->key.s : "", "name") ? V_NAME
        : (!strcmp(p->key.s ? p->key.s : "", "arguments") || !strcmp(p->key.s ? p->key.s : "", "parameters")) ? V_ARGS
                                                                                                              : V_OTHER;
    if (p->role == V_NAME) buf_clear(&p->name);
    if (p->role == V_ARGS) {
        if (p->args_seen) p->bad = 1; /* two argument members */
        p->args_seen = 1;
        p->args_string = c == '"';
        buf_clear(&p->args);
    }
}

static void value_byte(api_tool_parser *p, api_tool_delta *d, char c) {
    if (p->role == V_NAME && buf_add(&p->name, &c, 1)) p->oom = 1;
    if (p->role == V_ARGS && buf_add(&p->args, &c, 1)) p->oom = 1;
}

static void end_value(api_tool_parser *p, api_tool_delta *d) {
    p->os = O_AFTER_VALUE;
    if (p->role == V_NAME && !announced(p)) {
        announce(p, d);
        flush_args(p, d, 1); /* arguments read before the name */
    } else if (p->role == V_NAME) {
        p->bad = 1; /* two names */
    }
    if (p->role == V_ARGS) flush_args(p, d, 1);
}

/* The call object ended. */
static void end_object(api_tool_parser *p, api_tool_delta *d) {
    if (!announced(p)) {
        p->bad = 1;
        return;
    }
    if (!p->args_seen) { /* a call without arguments */
        api_tool_call_delta *c = call_delta(p, d);
        if (c) append_str(p, &c->arguments, "{}", 2);
    }
    p->n_calls++;
    p->cur_announced = 0;
    p->st = P_AFTER_OBJ;
    p->close_at = 0;
}

/* A byte of a value: 1 when it was consumed by the value, 0 when it ended a scalar before it. */
static int value(api_tool_parser *p, api_tool_delta *d, char c) {
    if (p->v_scalar) {
        if (c == ',' || c == '}' || is_space(c)) {
            end_value(p, d);
            return 0;
        }
        value_byte(p, d, c);
        return 1;
    }
    value_byte(p, d, c);
    if (p->v_in_str) {
        if (p->v_esc) p->v_esc = 0;
        else if (c == '\\') p->v_esc = 1;
        else if (c == '"') {
            p->v_in_str = 0;
            if (!p->vdepth) end_value(p, d);
        }
    } else if (c == '"') {
        p->v_in_str = 1;
    } else if (c == '{' || c == '[') {
        p->vdepth++;
    } else if ((c == '}' || c == ']') && --p->vdepth == 0) {
        end_value(p, d);
    }
    if (p->role == V_ARGS && p->os == O_VALUE) flush_args(p, d, 0);
    return 1;
}

static void object(api_tool_parser *p, api_tool_delta *d, char c) {
    switch (p->os) {
        case O_KEY_OR_END:
        case O_AFTER_VALUE:
            if (is_space(c)) return;
            if (c == '}') end_object(p, d);
            else if (c == ',' && p->os == O_AFTER_VALUE) p->os = O_KEY_OR_END;
            else if (c == '"' && p->os == O_KEY_OR_END) {
                p->os = O_KEY;
                p->key_esc = 0;
                buf_clear(&p->key);
                if (buf_add(&p->key, "", 0)) p->oom = 1;
            } else p->bad = 1;
            return;
        case O_KEY:
            if (c == '"' && !p->key_esc) p->os = O_COLON;
            else {
                p->key_esc = !p->key_esc && c == '\\';
                if (buf_add(&p->key, &c, 1)) p->oom = 1;
            }
            return;
        case O_COLON:
            if (c == ':') p->os = O_VALUE_START;
            else if (!is_space(c)) p->bad = 1;
            return;
        case O_VALUE_START:
            if (is_space(c)) return;
            start_value(p, c);
            if (!p->v_scalar) value_byte(p, d, c);
            else value(p, d, c);
            if (p->role == V_ARGS) flush_args(p, d, 0);
            return;
        case O_VALUE:
            if (!value(p, d, c)) object(p, d, c); /* the byte after a number: the object's */
            return;
    }
}

/* ---- the sections ---- */

static void begin_object(api_tool_parser *p) {
    p->st = P_OBJ;
    p->os = O_KEY_OR_END;
    p->args_seen = p->bad = p->cur_announced = 0;
    buf_clear(&p->name);
    buf_clear(&p->args);
}

/* The format broke inside a calls section: what it held is content again, unless calls of it went out
 * already (a stream cannot take them back; a whole-answer reader reports the whole text instead). */
static void fail_section(api_tool_parser *p, api_tool_delta *d) {
    p->failed = 1;
    p->cur_announced = 0; /* an announced call stays unfinished; the next one gets the next index */
    if (p->raw.n && !p->section_calls) content(p, d, p->raw.s, p->raw.n);
    buf_clear(&p->raw);
    p->st = p->f == API_TOOLS_LLAMA3_JSON ? P_ENDTEXT : P_TEXT;
    p->bare = 0;
}

/* The longest tail of hold that begins the opener. */
static size_t opener_tail(const buf *hold, const char *opener) {
    size_t olen = strlen(opener);
    for (size_t k = hold->n < olen ? hold->n : olen - 1; k > 0; k--)
        if (!memcmp(hold->s + hold->n - k, opener, k)) return k;
    return 0;
}

/* Free text: content, until the opener. */
static void text_byte(api_tool_parser *p, api_tool_delta *d, char c) {
    const char *opener = openers[p->f];
    if (buf_add(&p->hold, &c, 1)) {
        p->oom = 1;
        return;
    }
    if (p->hold.n == strlen(opener) && !memcmp(p->hold.s, opener, p->hold.n)) {
        buf_clear(&p->raw); /* whitespace before calls is not content, unless the calls turn out broken */
        if (buf_add(&p->raw, p->ws.s ? p->ws.s : "", p->ws.n) || buf_add(&p->raw, p->hold.s, p->hold.n)) p->oom = 1;
        buf_clear(&p->ws);
        buf_clear(&p->hold);
        p->section_calls = 0;
        p->st = p->f == API_TOOLS_MISTRAL ? P_LIST_OPEN : P_OBJ_OPEN;
        return;
    }
    size_t keep = opener_tail(&p->hold, opener);
    if (keep < p->hold.n) content(p, d, p->hold.s, p->hold.n - keep);
    memmove(p->hold.s, p->hold.s + p->hold.n - keep, keep);
    p->hold.n = keep;
}

static void text_byte(api_tool_parser *p, api_tool_delta *d, char c);

/* hermes: what was held at the start is free text after all. */
static void start_as_text(api_tool_parser *p, api_tool_delta *d) {
    buf held = p->hold;
    p->hold = (buf){0};
    p->st = P_TEXT;
    for (size_t i = 0; i < held.n; i++) text_byte(p, d, held.s[i]);
    buf_free(&held);
}

/* The answer's first characters decide whether it is calls: llama3_json's {...} or <|python_tag|>, and
 * hermes calls written without <tool_call> (small models do: Qwen2.5-Coder-0.5B). */
static void start_byte(api_tool_parser *p, api_tool_delta *d, char c) {
    if (buf_add(&p->hold, &c, 1)) {
        p->oom = 1;
        return;
    }
    size_t k = 0;
    while (k < p->hold.n && is_space(p->hold.s[k])) k++;
    const char *rest = p->hold.s + k, *tag = openers[API_TOOLS_LLAMA3_JSON];
    size_t n = p->hold.n - k, tag_len = strlen(tag);
    if (n == 0) return;
    if (p->f == API_TOOLS_HERMES && rest[0] != '{') return start_as_text(p, d);
    if (p->f == API_TOOLS_LLAMA3_JSON && n <= tag_len && !memcmp(rest, tag, n)) {
        if (n == tag_len) { /* <|python_tag|>: calls follow */
            if (buf_add(&p->raw, p->hold.s, p->hold.n)) p->oom = 1;
            buf_clear(&p->hold);
            p->st = P_OBJ_OPEN;
        }
        return;
    }
    if (rest[0] == '{') {
        if (buf_add(&p->raw, p->hold.s, p->hold.n)) p->oom = 1;
        buf_clear(&p->hold);
        p->bare = p->f == API_TOOLS_HERMES;
        p->section_calls = 0;
        begin_object(p);
        return;
    }
    p->st = P_ENDTEXT;
    content(p, d, p->hold.s, p->hold.n);
    buf_clear(&p->hold);
}

static void after_object(api_tool_parser *p, api_tool_delta *d, char c) {
    if (p->bare) { /* more bare calls, or text from here on */
        if (is_space(c)) return;
        if (c == '{') return begin_object(p);
        p->bare = 0;
        p->st = P_TEXT;
        buf_clear(&p->raw);
        return text_byte(p, d, c);
    }
    if (p->f == API_TOOLS_HERMES) {
        if (p->close_at == 0 && is_space(c)) return;
        if (c != hermes_close[p->close_at]) return fail_section(p, d);
        if (++p->close_at == sizeof hermes_close - 1) {
            p->st = P_TEXT;
            buf_clear(&p->raw);
        }
        return;
    }
    if (is_space(c)) return;
    char separator = p->f == API_TOOLS_MISTRAL ? ',' : ';';
    if (c == separator) p->st = P_OBJ_OPEN;
    else if (c == ']' && p->f == API_TOOLS_MISTRAL) {
        p->st = P_TEXT;
        buf_clear(&p->raw);
    } else fail_section(p, d);
}

static void byte(api_tool_parser *p, api_tool_delta *d, char c) {
    if (p->st != P_TEXT && p->st != P_START && p->st != P_ENDTEXT && buf_add(&p->raw, &c, 1)) p->oom = 1;
    switch (p->st) {
        case P_TEXT: text_byte(p, d, c); break;
        case P_START: start_byte(p, d, c); break;
        case P_ENDTEXT: content(p, d, &c, 1); break;
        case P_LIST_OPEN:
            if (c == '[') p->st = P_OBJ_OPEN;
            else if (!is_space(c)) fail_section(p, d);
            break;
        case P_OBJ_OPEN:
            if (c == '{') begin_object(p);
            else if (!is_space(c)) fail_section(p, d);
            break;
        case P_OBJ:
            object(p, d, c);
            if (p->bad) fail_section(p, d);
            break;
        case P_AFTER_OBJ: after_object(p, d, c); break;
    }
}

int api_tool_parser_push(api_tool_parser *p, const char *text, size_t len, api_tool_delta *out) {
    for (size_t i = 0; i < len && !p->oom; i++) byte(p, out, text[i]);
    return p->oom ? -1 : 0;
}

int api_tool_parser_finish(api_tool_parser *p, api_tool_delta *out) {
    switch (p->st) {
        case P_TEXT:
        case P_START:
            if (p->hold.n) content(p, out, p->hold.s, p->hold.n);
            buf_clear(&p->hold);
            break;
        case P_AFTER_OBJ: /* the last call is whole; a missing close is forgiven */
        case P_ENDTEXT: break;
        case P_LIST_OPEN:
        case P_OBJ_OPEN:
        case P_OBJ: /* cut off inside the calls */ fail_section(p, out); break;
    }
    if (p->ws.n && p->n_started == 0) append_str(p, &out->content, p->ws.s, p->ws.n);
    buf_clear(&p->ws);
    return p->oom ? -1 : 0;
}
