/* A restricted unpickler for the pickles torch.save writes (protocol 2 by default; the protocol 2-5
 * opcodes such a pickle can use are accepted). It builds a small value tree and never executes
 * anything: the only globals it accepts are the handful torch's tensor format names (the rebuild
 * functions, collections.OrderedDict and the torch.*Storage types), and REDUCE "applies" them
 * symbolically. Any other global is LOOM_ERR_UNSUPPORTED naming it ("os.system"); any other opcode is
 * an error naming the byte and its offset. Stack, mark, memo, object and nesting limits bound the
 * memory a hostile pickle can claim. */
#ifndef LOOM_FORMATS_PICKLE_H
#define LOOM_FORMATS_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define LOOM_PICKLE_MAX_STACK (1 << 20)   /* values on the stack at once */
#define LOOM_PICKLE_MAX_MARKS 64          /* open MARKs */
#define LOOM_PICKLE_MAX_MEMO (1 << 22)    /* highest memo index + 1 */
#define LOOM_PICKLE_MAX_OBJECTS (1 << 22) /* values created in total */
#define LOOM_PICKLE_MAX_ITEMS (1 << 24)   /* container items (dict keys and values count) in total */
#define LOOM_PICKLE_MAX_DEPTH 64          /* containers nested in containers */

typedef enum loom_pickle_kind {
    LOOM_PICKLE_NONE,
    LOOM_PICKLE_BOOL,   /* i: 0 or 1 */
    LOOM_PICKLE_INT,    /* i */
    LOOM_PICKLE_FLOAT,  /* f */
    LOOM_PICKLE_STRING, /* str, len: UTF-8 as stored */
    LOOM_PICKLE_BYTES,  /* str, len */
    LOOM_PICKLE_TUPLE,  /* items[n_items] */
    LOOM_PICKLE_LIST,   /* items[n_items] */
    LOOM_PICKLE_DICT,   /* items[n_items]: key0, value0, key1, value1, ... in insertion order */
    LOOM_PICKLE_GLOBAL, /* global; str, len: the class name for a storage type ("FloatStorage") */
    LOOM_PICKLE_CALL,   /* a whitelisted function applied by REDUCE: items = {function, args tuple} */
    LOOM_PICKLE_PERSID, /* a persistent reference (BINPERSID): items = {pid} */
} loom_pickle_kind;

typedef enum loom_pickle_global {
    LOOM_PICKLE_REBUILD_TENSOR_V2, /* torch._utils._rebuild_tensor_v2 */
    LOOM_PICKLE_REBUILD_PARAMETER, /* torch._utils._rebuild_parameter */
    LOOM_PICKLE_ORDERED_DICT,      /* collections.OrderedDict: REDUCE with () gives an empty DICT */
    LOOM_PICKLE_STORAGE_TYPE,      /* torch.<Type>Storage */
} loom_pickle_global;

typedef struct loom_pickle_value {
    loom_pickle_kind kind;
    loom_pickle_global global;
    int depth;  /* 1 + depth of the deepest container inside (0 for a scalar) */
    int nested; /* set once it is an item of another value; from then on it never changes */
    int64_t i;
    double f;
    const char *str; /* into the pickle buffer, not NUL-terminated */
    size_t len;
    struct loom_pickle_value **items;
    size_t n_items;
    size_t capacity;
} loom_pickle_value;

/* Owns every value of one unpickled buffer. Values (and their strings) stay valid until
 * pickle_free; strings point into the pickle buffer, which must outlive them too. A container
 * cannot change once nested in another (torch's pickles fill each container before nesting it), so
 * values never form a cycle and depth is exact; but values may be shared through the memo, which
 * makes a naive recursive walk exponential: read them with a fixed schema. */
typedef struct loom_pickle {
    const loom_pickle_value *root;
    struct loom_pickle_chunk *chunks;
    size_t n_objects;
    size_t n_items;
} loom_pickle;

/* Unpickles data[0..size) up to its STOP. On error *out is left empty (nothing to free). */
loom_status pickle_load(const uint8_t *data, size_t size_bytes, loom_pickle *out, loom_error *err);
void pickle_free(loom_pickle *p);

#endif
