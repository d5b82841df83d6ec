#include "formats/pickle.h"
#include "core/grow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/byte_cursor.h"

/* The opcodes accepted (names as in CPython's pickle.py). */
enum {
    OP_MARK = '(',
    OP_STOP = '.',
    OP_BININT = 'J',
    OP_BININT1 = 'K',
    OP_BININT2 = 'M',
    OP_NONE = 'N',
    OP_BINPERSID = 'Q',
    OP_REDUCE = 'R',
    OP_BINUNICODE = 'X',
    OP_EMPTY_LIST = ']',
    OP_APPEND = 'a',
    OP_BUILD = 'b',
    OP_GLOBAL = 'c',
    OP_APPENDS = 'e',
    OP_BINGET = 'h',
    OP_LONG_BINGET = 'j',
    OP_EMPTY_DICT = '}',
    OP_SETITEM = 's',
    OP_TUPLE = 't',
    OP_SETITEMS = 'u',
    OP_EMPTY_TUPLE = ')',
    OP_BINFLOAT = 'G',
    OP_BINPUT = 'q',
    OP_LONG_BINPUT = 'r',
    OP_BINBYTES = 'B',
    OP_SHORT_BINBYTES = 'C',
    OP_PROTO = 0x80,
    OP_TUPLE1 = 0x85,
    OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_LONG1 = 0x8a,
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d,
    OP_STACK_GLOBAL = 0x93,
    OP_MEMOIZE = 0x94,
    OP_FRAME = 0x95,
};

enum { CHUNK_VALUES = 256, MAX_GLOBAL_LINE = 256, SHOWN = 120 };

struct loom_pickle_chunk {
    struct loom_pickle_chunk *next;
    size_t used;
    loom_pickle_value values[CHUNK_VALUES];
};

typedef struct unpickler {
    loom_cursor in;
    loom_pickle *out;
    loom_error *err;
    uint8_t op;    /* the opcode being run, for messages */
    size_t op_pos; /* its offset */
    loom_pickle_value **stack;
    size_t n_stack, stack_cap;
    size_t marks[LOOM_PICKLE_MAX_MARKS]; /* stack heights at each open MARK */
    int n_marks;
    loom_pickle_value **memo; /* memo[i] or NULL */
    size_t memo_cap, memo_used;
} unpickler;

/* ---- errors -------------------------------------------------------------------------------------- */

static loom_status fail(unpickler *u, loom_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static loom_status fail(unpickler *u, loom_status st, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return loom_fail(u->err, st, "pickle %s (opcode 0x%02x at offset %zu)", msg, u->op, u->op_pos);
}

static loom_status truncated(unpickler *u) {
    return fail(u, LOOM_ERR_FORMAT, "is truncated: an opcode argument runs past its end");
}

static int shown(size_t len) { return (int)(len < SHOWN ? len : SHOWN); }

/* ---- values -------------------------------------------------------------------------------------- */

static loom_status new_value(unpickler *u, loom_pickle_kind kind, loom_pickle_value **out) {
    loom_pickle *p = u->out;
    if (p->n_objects >= LOOM_PICKLE_MAX_OBJECTS)
        return fail(u, LOOM_ERR_FORMAT, "has more than %d objects", LOOM_PICKLE_MAX_OBJECTS);
    if (!p->chunks || p->chunks->used == CHUNK_VALUES) {
        struct loom_pickle_chunk *c = malloc(sizeof *c);
        if (!c) return fail(u, LOOM_ERR_NO_MEMORY, "reader ran out of memory");
        c->next = p->chunks;
        c->used = 0;
        p->chunks = c;
    }
    loom_pickle_value *v = &p->chunks->values[p->chunks->used++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    p->n_objects++;
    *out = v;
    return LOOM_OK;
}

/* Adds child to the items of container, keeping the depth and item limits. The child is frozen first,
 * so a container can never be added to itself. */
static loom_status add_item(unpickler *u, loom_pickle_value *container, loom_pickle_value *child) {
    child->nested = 1;
    if (container->nested) return fail(u, LOOM_ERR_FORMAT, "changes a container after nesting it");
    if (u->out->n_items >= LOOM_PICKLE_MAX_ITEMS)
        return fail(u, LOOM_ERR_FORMAT, "has more than %d container items", LOOM_PICKLE_MAX_ITEMS);
    if (child->depth >= LOOM_PICKLE_MAX_DEPTH)
        return fail(u, LOOM_ERR_FORMAT, "nests containers deeper than %d", LOOM_PICKLE_MAX_DEPTH);
    if (grow(&container->items, &container->capacity, container->n_items, sizeof *container->items, 4))
        return fail(u, LOOM_ERR_NO_MEMORY, "reader ran out of memory");
    container->items[container->n_items++] = child;
    if (container->depth < child->depth + 1) container->depth = child->depth + 1;
    u->out->n_items++;
    return LOOM_OK;
}

static loom_status new_container(unpickler *u, loom_pickle_kind kind, loom_pickle_value *const *items, size_t n,
                                 loom_pickle_value **out) {
    loom_status st = new_value(u, kind, out);
    if (st == LOOM_OK) (*out)->depth = 1;
    for (size_t i = 0; i < n && st == LOOM_OK; i++) st = add_item(u, *out, items[i]);
    return st;
}

/* ---- stack, marks, memo -------------------------------------------------------------------------- */

static size_t stack_base(const unpickler *u) { return u->n_marks ? u->marks[u->n_marks - 1] : 0; }

static loom_status push(unpickler *u, loom_pickle_value *v) {
    if (u->n_stack == LOOM_PICKLE_MAX_STACK)
        return fail(u, LOOM_ERR_FORMAT, "stack grows past %d values", LOOM_PICKLE_MAX_STACK);
    if (grow(&u->stack, &u->stack_cap, u->n_stack, sizeof *u->stack, 16))
        return fail(u, LOOM_ERR_NO_MEMORY, "reader ran out of memory");
    u->stack[u->n_stack++] = v;
    return LOOM_OK;
}

static loom_status push_new(unpickler *u, loom_pickle_kind kind, loom_pickle_value **out) {
    loom_status st = new_value(u, kind, out);
    return st == LOOM_OK ? push(u, *out) : st;
}

/* Pushes a new container holding a copy of items[0..n) (which may lie on the stack above its top). */
static loom_status push_container(unpickler *u, loom_pickle_kind kind, loom_pickle_value *const *items, size_t n) {
    loom_pickle_value *v = NULL;
    loom_status st = new_container(u, kind, items, n, &v);
    return st == LOOM_OK ? push(u, v) : st;
}

static loom_status pop(unpickler *u, loom_pickle_value **out) {
    if (u->n_stack <= stack_base(u)) return fail(u, LOOM_ERR_FORMAT, "stack underflow");
    *out = u->stack[--u->n_stack];
    return LOOM_OK;
}

static loom_status top(unpickler *u, loom_pickle_value **out) {
    if (u->n_stack <= stack_base(u)) return fail(u, LOOM_ERR_FORMAT, "stack underflow");
    *out = u->stack[u->n_stack - 1];
    return LOOM_OK;
}

/* Closes the innermost MARK: the values above it are items[0..n), removed from the stack. */
static loom_status pop_mark(unpickler *u, loom_pickle_value ***items, size_t *n) {
    if (u->n_marks == 0) return fail(u, LOOM_ERR_FORMAT, "has no MARK to close");
    size_t base = u->marks[--u->n_marks];
    *items = u->stack + base;
    *n = u->n_stack - base;
    u->n_stack = base;
    return LOOM_OK;
}

static loom_status memo_put(unpickler *u, uint64_t index) {
    loom_pickle_value *v = NULL;
    loom_status st = top(u, &v);
    if (st != LOOM_OK) return st;
    if (index >= LOOM_PICKLE_MAX_MEMO)
        return fail(u, LOOM_ERR_FORMAT, "memo index %llu is beyond the limit %d", (unsigned long long)index,
                    LOOM_PICKLE_MAX_MEMO);
    if (index >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 64;
        while (cap <= index) cap *= 2;
        loom_pickle_value **grown = realloc(u->memo, cap * sizeof *grown);
        if (!grown) return fail(u, LOOM_ERR_NO_MEMORY, "reader ran out of memory");
        memset(grown + u->memo_cap, 0, (cap - u->memo_cap) * sizeof *grown);
        u->memo = grown;
        u->memo_cap = cap;
    }
    if (!u->memo[index]) u->memo_used++;
    u->memo[index] = v;
    return LOOM_OK;
}

static loom_status memo_get(unpickler *u, uint64_t index) {
    if (index >= u->memo_cap || !u->memo[index])
        return fail(u, LOOM_ERR_FORMAT, "memo index %llu is not set", (unsigned long long)index);
    return push(u, u->memo[index]);
}

/* ---- globals ------------------------------------------------------------------------------------- */

static const struct {
    const char *module, *name;
    loom_pickle_global global;
} ALLOWED_GLOBALS[] = {
    {"torch._utils", "_rebuild_tensor_v2", LOOM_PICKLE_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_parameter", LOOM_PICKLE_REBUILD_PARAMETER},
    {"collections", "OrderedDict", LOOM_PICKLE_ORDERED_DICT},
};

static const char *const STORAGE_TYPES[] = {
    "FloatStorage",        "HalfStorage",          "BFloat16Storage", "DoubleStorage", "LongStorage",
    "IntStorage",          "ShortStorage",         "CharStorage",     "ByteStorage",   "BoolStorage",
    "ComplexFloatStorage", "ComplexDoubleStorage", "QInt8Storage",    "QUInt8Storage", "QInt32Storage",
    "QUInt4x2Storage",     "QUInt2x4Storage",      "UntypedStorage",
};

static int same(const char *s, size_t len, const char *lit) { return strlen(lit) == len && memcmp(s, lit, len) == 0; }

static int lookup_global(const char *module, size_t module_len, const char *name, size_t name_len,
                         loom_pickle_global *out) {
    for (size_t i = 0; i < sizeof ALLOWED_GLOBALS / sizeof ALLOWED_GLOBALS[0]; i++) {
        if (same(module, module_len, ALLOWED_GLOBALS[i].module) && same(name, name_len, ALLOWED_GLOBALS[i].name)) {
            *out = ALLOWED_GLOBALS[i].global;
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof STORAGE_TYPES / sizeof STORAGE_TYPES[0]; i++) {
        if (same(module, module_len, "torch") && same(name, name_len, STORAGE_TYPES[i])) {
            *out = LOOM_PICKLE_STORAGE_TYPE;
            return 1;
        }
    }
    return 0;
}

static loom_status push_global(unpickler *u, const char *module, size_t module_len, const char *name, size_t name_len) {
    loom_pickle_global g;
    if (!lookup_global(module, module_len, name, name_len, &g))
        return fail(u, LOOM_ERR_UNSUPPORTED, "refers to forbidden global '%.*s.%.*s'", shown(module_len), module,
                    shown(name_len), name);
    loom_pickle_value *v = NULL;
    loom_status st = push_new(u, LOOM_PICKLE_GLOBAL, &v);
    if (st != LOOM_OK) return st;
    v->global = g;
    v->str = name;
    v->len = name_len;
    return LOOM_OK;
}

/* One '\n'-terminated line of a GLOBAL argument (without the newline). */
static int read_line(unpickler *u, const char **line, size_t *len) {
    size_t left = cursor_left(&u->in);
    const uint8_t *start = u->in.data + u->in.pos;
    const uint8_t *nl = memchr(start, '\n', left < MAX_GLOBAL_LINE ? left : MAX_GLOBAL_LINE);
    if (!nl) return 0;
    *line = (const char *)start;
    *len = (size_t)(nl - start);
    cursor_take(&u->in, *len + 1);
    return 1;
}

static loom_status op_global(unpickler *u) {
    const char *module, *name;
    size_t module_len, name_len;
    if (!read_line(u, &module, &module_len) || !read_line(u, &name, &name_len))
        return fail(u, LOOM_ERR_FORMAT, "GLOBAL argument is not two short lines");
    return push_global(u, module, module_len, name, name_len);
}

static loom_status op_stack_global(unpickler *u) {
    loom_pickle_value *module = NULL, *name = NULL;
    loom_status st = pop(u, &name);
    if (st == LOOM_OK) st = pop(u, &module);
    if (st != LOOM_OK) return st;
    if (module->kind != LOOM_PICKLE_STRING || name->kind != LOOM_PICKLE_STRING)
        return fail(u, LOOM_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    return push_global(u, module->str, module->len, name->str, name->len);
}

/* ---- calls --------------------------------------------------------------------------------------- */

static loom_status op_reduce(unpickler *u) {
    loom_pickle_value *fn = NULL, *args = NULL;
    loom_status st = pop(u, &args);
    if (st == LOOM_OK) st = pop(u, &fn);
    if (st != LOOM_OK) return st;
    if (fn->kind != LOOM_PICKLE_GLOBAL || args->kind != LOOM_PICKLE_TUPLE)
        return fail(u, LOOM_ERR_FORMAT, "REDUCE needs a global and an argument tuple");
    switch (fn->global) {
        case LOOM_PICKLE_ORDERED_DICT:
            if (args->n_items != 0)
                return fail(u, LOOM_ERR_UNSUPPORTED, "calls collections.OrderedDict with arguments");
            return push_container(u, LOOM_PICKLE_DICT, NULL, 0);
        case LOOM_PICKLE_REBUILD_TENSOR_V2:
        case LOOM_PICKLE_REBUILD_PARAMETER: {
            loom_pickle_value *pair[2] = {fn, args};
            return push_container(u, LOOM_PICKLE_CALL, pair, 2);
        }
        case LOOM_PICKLE_STORAGE_TYPE: break;
    }
    return fail(u, LOOM_ERR_UNSUPPORTED, "calls storage type 'torch.%.*s'", shown(fn->len), fn->str);
}

static loom_status op_binpersid(unpickler *u) {
    loom_pickle_value *pid = NULL;
    loom_status st = pop(u, &pid);
    return st == LOOM_OK ? push_container(u, LOOM_PICKLE_PERSID, &pid, 1) : st;
}

/* BUILD sets object state; the only object torch gives state is an OrderedDict (its attributes, e.g.
 * _metadata), which the tensor table does not need: the state is checked to be a dict and dropped. */
static loom_status op_build(unpickler *u) {
    loom_pickle_value *state = NULL, *target = NULL;
    loom_status st = pop(u, &state);
    if (st == LOOM_OK) st = top(u, &target);
    if (st != LOOM_OK) return st;
    if (target->kind != LOOM_PICKLE_DICT || (state->kind != LOOM_PICKLE_DICT && state->kind != LOOM_PICKLE_NONE))
        return fail(u, LOOM_ERR_UNSUPPORTED, "BUILD is only supported on a dict with dict state");
    return LOOM_OK;
}

/* ---- containers ---------------------------------------------------------------------------------- */

static loom_status op_tuple_n(unpickler *u, size_t n) {
    if (u->n_stack - stack_base(u) < n) return fail(u, LOOM_ERR_FORMAT, "stack underflow");
    u->n_stack -= n;
    return push_container(u, LOOM_PICKLE_TUPLE, u->stack + u->n_stack, n);
}

static loom_status op_tuple(unpickler *u) {
    loom_pickle_value **items = NULL;
    size_t n = 0;
    loom_status st = pop_mark(u, &items, &n);
    return st == LOOM_OK ? push_container(u, LOOM_PICKLE_TUPLE, items, n) : st;
}

static loom_status op_mark(unpickler *u) {
    if (u->n_marks == LOOM_PICKLE_MAX_MARKS)
        return fail(u, LOOM_ERR_FORMAT, "has more than %d nested MARKs", LOOM_PICKLE_MAX_MARKS);
    u->marks[u->n_marks++] = u->n_stack;
    return LOOM_OK;
}

/* Adds items to the container on top of the stack, which must be of the given kind. */
static loom_status extend(unpickler *u, loom_pickle_kind kind, loom_pickle_value *const *items, size_t n) {
    loom_pickle_value *target = NULL;
    loom_status st = top(u, &target);
    if (st != LOOM_OK) return st;
    if (target->kind != kind)
        return fail(u, LOOM_ERR_FORMAT, "adds items to a value that is not a %s",
                    kind == LOOM_PICKLE_DICT ? "dict" : "list");
    if (kind == LOOM_PICKLE_DICT && n % 2) return fail(u, LOOM_ERR_FORMAT, "has an odd number of dict keys and values");
    for (size_t i = 0; i < n && st == LOOM_OK; i++) st = add_item(u, target, items[i]);
    return st;
}

/* APPEND / SETITEM: the last n values go into the container below them. */
static loom_status op_add(unpickler *u, loom_pickle_kind kind, size_t n) {
    if (u->n_stack - stack_base(u) < n) return fail(u, LOOM_ERR_FORMAT, "stack underflow");
    u->n_stack -= n;
    return extend(u, kind, u->stack + u->n_stack, n);
}

/* APPENDS / SETITEMS: the values above the MARK go into the container below it. */
static loom_status op_add_marked(unpickler *u, loom_pickle_kind kind) {
    loom_pickle_value **items = NULL;
    size_t n = 0;
    loom_status st = pop_mark(u, &items, &n);
    return st == LOOM_OK ? extend(u, kind, items, n) : st;
}

/* ---- scalars ------------------------------------------------------------------------------------- */

static loom_status push_int(unpickler *u, loom_pickle_kind kind, int64_t i) {
    loom_pickle_value *v = NULL;
    loom_status st = push_new(u, kind, &v);
    if (st == LOOM_OK) v->i = i;
    return st;
}

static loom_status op_long1(unpickler *u) {
    uint8_t n = cursor_u8(&u->in);
    const uint8_t *b = cursor_take(&u->in, n);
    if (!b) return truncated(u);
    if (n > 8) return fail(u, LOOM_ERR_UNSUPPORTED, "has an integer of %u bytes, wider than 64 bits", (unsigned)n);
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)b[i] << (8 * i);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
    return push_int(u, LOOM_PICKLE_INT, (int64_t)v);
}

static loom_status op_binfloat(unpickler *u) {
    const uint8_t *b = cursor_take(&u->in, 8);
    if (!b) return truncated(u);
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = bits << 8 | b[i]; /* big-endian */
    loom_pickle_value *v = NULL;
    loom_status st = push_new(u, LOOM_PICKLE_FLOAT, &v);
    if (st == LOOM_OK) memcpy(&v->f, &bits, sizeof v->f);
    return st;
}

static loom_status push_string(unpickler *u, loom_pickle_kind kind, uint64_t len) {
    const uint8_t *s = len > cursor_left(&u->in) ? NULL : cursor_take(&u->in, (size_t)len);
    if (!s) return truncated(u);
    loom_pickle_value *v = NULL;
    loom_status st = push_new(u, kind, &v);
    if (st == LOOM_OK) {
        v->str = (const char *)s;
        v->len = (size_t)len;
    }
    return st;
}

static loom_status op_proto(unpickler *u) {
    uint8_t version = cursor_u8(&u->in);
    if (u->in.overrun) return truncated(u);
    if (version < 2 || version > 5)
        return fail(u, LOOM_ERR_UNSUPPORTED, "protocol %u is not supported (only 2-5)", (unsigned)version);
    return LOOM_OK;
}

/* FRAME only groups opcodes for buffered readers; its length must fit what is left. */
static loom_status op_frame(unpickler *u) {
    uint64_t len = cursor_u64(&u->in);
    if (u->in.overrun || len > cursor_left(&u->in)) return truncated(u);
    return LOOM_OK;
}

/* An opcode argument read straight from the input; checked for truncation before use. */
static loom_status with_arg(unpickler *u, uint64_t arg, loom_status (*fn)(unpickler *, uint64_t)) {
    return u->in.overrun ? truncated(u) : fn(u, arg);
}

static loom_status push_unicode(unpickler *u, uint64_t len) { return push_string(u, LOOM_PICKLE_STRING, len); }
static loom_status push_bytes(unpickler *u, uint64_t len) { return push_string(u, LOOM_PICKLE_BYTES, len); }
static loom_status push_plain_int(unpickler *u, uint64_t v) { return push_int(u, LOOM_PICKLE_INT, (int64_t)v); }
static loom_status push_signed32(unpickler *u, uint64_t v) {
    return push_int(u, LOOM_PICKLE_INT, (int32_t)(uint32_t)v);
}

/* ---- the loop ------------------------------------------------------------------------------------ */

static loom_status step(unpickler *u) {
    loom_pickle_value *v = NULL;
    loom_cursor *in = &u->in;
    switch (u->op) {
        case OP_PROTO: return op_proto(u);
        case OP_FRAME: return op_frame(u);
        case OP_EMPTY_DICT: return push_container(u, LOOM_PICKLE_DICT, NULL, 0);
        case OP_EMPTY_LIST: return push_container(u, LOOM_PICKLE_LIST, NULL, 0);
        case OP_EMPTY_TUPLE: return push_container(u, LOOM_PICKLE_TUPLE, NULL, 0);
        case OP_MARK: return op_mark(u);
        case OP_TUPLE: return op_tuple(u);
        case OP_TUPLE1: return op_tuple_n(u, 1);
        case OP_TUPLE2: return op_tuple_n(u, 2);
        case OP_TUPLE3: return op_tuple_n(u, 3);
        case OP_BININT: return with_arg(u, cursor_u32(in), push_signed32);
        case OP_BININT1: return with_arg(u, cursor_u8(in), push_plain_int);
        case OP_BININT2: return with_arg(u, cursor_u16(in), push_plain_int);
        case OP_LONG1: return op_long1(u);
        case OP_BINFLOAT: return op_binfloat(u);
        case OP_NONE: return push_new(u, LOOM_PICKLE_NONE, &v);
        case OP_NEWTRUE: return push_int(u, LOOM_PICKLE_BOOL, 1);
        case OP_NEWFALSE: return push_int(u, LOOM_PICKLE_BOOL, 0);
        case OP_SHORT_BINUNICODE: return with_arg(u, cursor_u8(in), push_unicode);
        case OP_BINUNICODE: return with_arg(u, cursor_u32(in), push_unicode);
        case OP_BINUNICODE8: return with_arg(u, cursor_u64(in), push_unicode);
        case OP_SHORT_BINBYTES: return with_arg(u, cursor_u8(in), push_bytes);
        case OP_BINBYTES: return with_arg(u, cursor_u32(in), push_bytes);
        case OP_BINPUT: return with_arg(u, cursor_u8(in), memo_put);
        case OP_LONG_BINPUT: return with_arg(u, cursor_u32(in), memo_put);
        case OP_MEMOIZE: return memo_put(u, u->memo_used);
        case OP_BINGET: return with_arg(u, cursor_u8(in), memo_get);
        case OP_LONG_BINGET: return with_arg(u, cursor_u32(in), memo_get);
        case OP_SETITEM: return op_add(u, LOOM_PICKLE_DICT, 2);
        case OP_SETITEMS: return op_add_marked(u, LOOM_PICKLE_DICT);
        case OP_APPEND: return op_add(u, LOOM_PICKLE_LIST, 1);
        case OP_APPENDS: return op_add_marked(u, LOOM_PICKLE_LIST);
        case OP_GLOBAL: return op_global(u);
        case OP_STACK_GLOBAL: return op_stack_global(u);
        case OP_REDUCE: return op_reduce(u);
        case OP_BINPERSID: return op_binpersid(u);
        case OP_BUILD: return op_build(u);
    }
    if (u->op >= 0x20 && u->op < 0x7f) return fail(u, LOOM_ERR_UNSUPPORTED, "opcode '%c' is not allowed", u->op);
    return fail(u, LOOM_ERR_UNSUPPORTED, "opcode is unknown or not allowed");
}

static loom_status run(unpickler *u) {
    for (;;) {
        u->op_pos = u->in.pos;
        u->op = cursor_u8(&u->in);
        if (u->in.overrun)
            return loom_fail(u->err, LOOM_ERR_FORMAT, "pickle ends at offset %zu without STOP", u->op_pos);
        if (u->op == OP_STOP) break;
        loom_status st = step(u);
        if (st != LOOM_OK) return st;
    }
    loom_pickle_value *root = NULL;
    loom_status st = pop(u, &root);
    if (st == LOOM_OK) u->out->root = root;
    return st;
}

loom_status pickle_load(const uint8_t *data, size_t size_bytes, loom_pickle *out, loom_error *err) {
    memset(out, 0, sizeof *out);
    unpickler u = {.in = cursor_at(data, size_bytes, 0), .out = out, .err = err, .stack_cap = 64};
    u.stack = malloc(u.stack_cap * sizeof *u.stack); /* never NULL while running: marks index into it */
    loom_status st = u.stack ? run(&u) : loom_fail(err, LOOM_ERR_NO_MEMORY, "pickle reader ran out of memory");
    free(u.stack);
    free(u.memo);
    if (st != LOOM_OK) pickle_free(out);
    return st;
}

void pickle_free(loom_pickle *p) {
    while (p->chunks) {
        struct loom_pickle_chunk *next = p->chunks->next;
        for (size_t i = 0; i < p->chunks->used; i++) free(p->chunks->values[i].items);
        free(p->chunks);
        p->chunks = next;
    }
    memset(p, 0, sizeof *p);
}
