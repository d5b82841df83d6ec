#include "formats/zip.h"

#include <stdlib.h>
#include <string.h>

/* ---- records ------------------------------------------------------------------------------------- */

enum {
    SIG_LOCAL = 0x04034b50,
    SIG_CENTRAL = 0x02014b50,
    SIG_EOCD = 0x06054b50,
    SIG_EOCD64 = 0x06064b50,
    SIG_EOCD64_LOCATOR = 0x07064b50,
    EOCD_BYTES = 22,
    EOCD64_LOCATOR_BYTES = 20,
    CENTRAL_BYTES = 46,
    MAX_COMMENT = 0xFFFF,
    ZIP64_EXTRA_ID = 0x0001,
    FLAG_ENCRYPTED = 0x0001,
    NAME_SHOWN = 200, /* longest member name quoted in a message */
};

#define SAT16 0xFFFFu
#define SAT32 0xFFFFFFFFu

/* Where the central directory is. */
typedef struct zip_dir {
    uint64_t count;
    uint64_t offset;
    uint64_t size_bytes;
} zip_dir;

/* The fields of one central-directory record this reader uses. */
typedef struct central_record {
    const char *name;
    size_t name_len;
    uint16_t flags, method;
    uint64_t compressed, uncompressed, local_offset;
} central_record;

static int shown_len(size_t name_len) { return (int)(name_len < NAME_SHOWN ? name_len : NAME_SHOWN); }

/* Offset of the end-of-central-directory record: the last signature whose comment ends the file. */
static int find_eocd(const uint8_t *data, size_t size, size_t *eocd) {
    if (size < EOCD_BYTES) return 0;
    size_t lowest = size - EOCD_BYTES > MAX_COMMENT ? size - EOCD_BYTES - MAX_COMMENT : 0;
    for (size_t pos = size - EOCD_BYTES + 1; pos-- > lowest;) {
        loom_cursor c = cursor_at(data, size, pos);
        if (cursor_u32(&c) != SIG_EOCD) continue;
        c.pos = pos + 20;
        if (pos + EOCD_BYTES + cursor_u16(&c) == size) {
            *eocd = pos;
            return 1;
        }
    }
    return 0;
}

static loom_status read_zip64_dir(const uint8_t *data, size_t size, size_t eocd, zip_dir *dir, loom_error *err) {
    loom_cursor loc = cursor_at(data, size, eocd - EOCD64_LOCATOR_BYTES);
    cursor_u32(&loc); /* signature, checked by the caller */
    uint32_t disk = cursor_u32(&loc);
    uint64_t record = cursor_u64(&loc);
    uint32_t n_disks = cursor_u32(&loc);
    if (disk != 0 || n_disks > 1)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "multi-disk zip archives are not supported");
    if (record > size)
        return loom_fail(err, LOOM_ERR_FORMAT, "zip64 end-of-central-directory offset %llu is past the end of the file",
                         (unsigned long long)record);
    loom_cursor c = cursor_at(data, size, (size_t)record);
    uint32_t sig = cursor_u32(&c);
    cursor_take(&c, 8 + 2 + 2); /* record size, versions */
    uint32_t this_disk = cursor_u32(&c), dir_disk = cursor_u32(&c);
    uint64_t on_disk = cursor_u64(&c);
    dir->count = cursor_u64(&c);
    dir->size_bytes = cursor_u64(&c);
    dir->offset = cursor_u64(&c);
    if (c.overrun || sig != SIG_EOCD64)
        return loom_fail(err, LOOM_ERR_FORMAT, "bad zip64 end-of-central-directory record");
    if (this_disk != 0 || dir_disk != 0 || on_disk != dir->count)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "multi-disk zip archives are not supported");
    return LOOM_OK;
}

static int has_zip64_locator(const uint8_t *data, size_t size, size_t eocd) {
    if (eocd < EOCD64_LOCATOR_BYTES) return 0;
    loom_cursor c = cursor_at(data, size, eocd - EOCD64_LOCATOR_BYTES);
    return cursor_u32(&c) == SIG_EOCD64_LOCATOR;
}

static loom_status read_eocd(const uint8_t *data, size_t size, size_t eocd, zip_dir *dir, loom_error *err) {
    loom_cursor c = cursor_at(data, size, eocd + 4);
    uint16_t disk = cursor_u16(&c), dir_disk = cursor_u16(&c);
    uint16_t on_disk = cursor_u16(&c), count = cursor_u16(&c);
    uint32_t dir_size = cursor_u32(&c), dir_offset = cursor_u32(&c);
    if (has_zip64_locator(data, size, eocd)) return read_zip64_dir(data, size, eocd, dir, err);
    if (count == SAT16 || dir_size == SAT32 || dir_offset == SAT32)
        return loom_fail(err, LOOM_ERR_FORMAT, "zip end-of-central-directory needs zip64 but has no zip64 record");
    if (disk != 0 || dir_disk != 0 || on_disk != count)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "multi-disk zip archives are not supported");
    dir->count = count;
    dir->size_bytes = dir_size;
    dir->offset = dir_offset;
    return LOOM_OK;
}

static loom_status locate_dir(const uint8_t *data, size_t size, zip_dir *dir, loom_error *err) {
    size_t eocd;
    if (!find_eocd(data, size, &eocd))
        return loom_fail(err, LOOM_ERR_FORMAT, "not a zip file: no end-of-central-directory record");
    loom_status st = read_eocd(data, size, eocd, dir, err);
    if (st != LOOM_OK) return st;
    if (dir->size_bytes > size || dir->offset > size - dir->size_bytes)
        return loom_fail(err, LOOM_ERR_FORMAT,
                         "zip central directory (offset %llu, %llu bytes) is past the end of the file",
                         (unsigned long long)dir->offset, (unsigned long long)dir->size_bytes);
    if (dir->count > dir->size_bytes / CENTRAL_BYTES)
        return loom_fail(err, LOOM_ERR_FORMAT, "zip central directory claims %llu entries in %llu bytes",
                         (unsigned long long)dir->count, (unsigned long long)dir->size_bytes);
    return LOOM_OK;
}

/* Replaces saturated 32-bit fields with the 64-bit values of a zip64 extra field, in spec order. */
static int apply_zip64_extra(const uint8_t *extra, size_t extra_len, uint32_t disk_sat, central_record *r) {
    loom_cursor c = cursor_at(extra, extra_len, 0);
    while (cursor_left(&c) >= 4) {
        uint16_t id = cursor_u16(&c), len = cursor_u16(&c);
        const uint8_t *body = cursor_take(&c, len);
        if (!body) return 0;
        if (id != ZIP64_EXTRA_ID) continue;
        loom_cursor f = cursor_at(body, len, 0);
        if (r->uncompressed == SAT32) r->uncompressed = cursor_u64(&f);
        if (r->compressed == SAT32) r->compressed = cursor_u64(&f);
        if (r->local_offset == SAT32) r->local_offset = cursor_u64(&f);
        if (disk_sat) cursor_u32(&f);
        return !f.overrun;
    }
    return r->uncompressed != SAT32 && r->compressed != SAT32 && r->local_offset != SAT32 && !disk_sat;
}

static loom_status read_central(loom_cursor *c, central_record *r, loom_error *err) {
    size_t at = c->pos;
    uint32_t sig = cursor_u32(c);
    cursor_take(c, 4); /* versions */
    r->flags = cursor_u16(c);
    r->method = cursor_u16(c);
    cursor_take(c, 8); /* time, date, crc */
    r->compressed = cursor_u32(c);
    r->uncompressed = cursor_u32(c);
    uint16_t name_len = cursor_u16(c), extra_len = cursor_u16(c), comment_len = cursor_u16(c);
    uint16_t disk = cursor_u16(c);
    cursor_take(c, 6); /* attributes */
    r->local_offset = cursor_u32(c);
    r->name = (const char *)cursor_take(c, name_len);
    r->name_len = name_len;
    const uint8_t *extra = cursor_take(c, extra_len);
    cursor_take(c, comment_len);
    if (c->overrun || sig != SIG_CENTRAL)
        return loom_fail(err, LOOM_ERR_FORMAT, "bad zip central directory entry at offset %zu", at);
    if (!apply_zip64_extra(extra, extra_len, disk == SAT16, r))
        return loom_fail(err, LOOM_ERR_FORMAT, "zip member '%.*s': bad or missing zip64 extra field",
                         shown_len(r->name_len), r->name);
    return LOOM_OK;
}

static loom_status check_stored(const central_record *r, loom_error *err) {
    if (r->flags & FLAG_ENCRYPTED)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "zip member '%.*s' is encrypted", shown_len(r->name_len), r->name);
    if (r->method != 0)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                         "zip member '%.*s' is compressed (method %u); only stored members are supported",
                         shown_len(r->name_len), r->name, (unsigned)r->method);
    if (r->compressed != r->uncompressed)
        return loom_fail(err, LOOM_ERR_FORMAT, "zip member '%.*s' is stored but its sizes differ (%llu vs %llu)",
                         shown_len(r->name_len), r->name, (unsigned long long)r->compressed,
                         (unsigned long long)r->uncompressed);
    return LOOM_OK;
}

/* Follows the local header of r to its data, checking it names the same member. */
static loom_status read_local(const uint8_t *data, size_t size, const central_record *r, loom_zip_entry *e,
                              loom_error *err) {
    loom_cursor c = cursor_at(data, size, r->local_offset > size ? size + 1 : (size_t)r->local_offset);
    uint32_t sig = cursor_u32(&c);
    cursor_take(&c, 22); /* version .. sizes: the central directory is authoritative */
    uint16_t name_len = cursor_u16(&c), extra_len = cursor_u16(&c);
    const uint8_t *name = cursor_take(&c, name_len);
    cursor_take(&c, extra_len);
    if (c.overrun || sig != SIG_LOCAL)
        return loom_fail(err, LOOM_ERR_FORMAT, "zip member '%.*s': bad local header at offset %llu",
                         shown_len(r->name_len), r->name, (unsigned long long)r->local_offset);
    if (name_len != r->name_len || memcmp(name, r->name, name_len) != 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "zip member '%.*s': local header names a different member",
                         shown_len(r->name_len), r->name);
    e->data = r->compressed > size ? NULL : cursor_take(&c, (size_t)r->compressed);
    if (!e->data)
        return loom_fail(err, LOOM_ERR_FORMAT, "zip member '%.*s': %llu bytes of data run past the end of the file",
                         shown_len(r->name_len), r->name, (unsigned long long)r->compressed);
    e->name = r->name;
    e->name_len = r->name_len;
    e->size_bytes = (size_t)r->compressed;
    return LOOM_OK;
}

static loom_status read_entry(const uint8_t *data, size_t size, loom_cursor *dir, loom_zip_entry *e, loom_error *err) {
    central_record r;
    loom_status st = read_central(dir, &r, err);
    if (st == LOOM_OK) st = check_stored(&r, err);
    if (st == LOOM_OK) st = read_local(data, size, &r, e, err);
    return st;
}

loom_status zip_open(const uint8_t *data, size_t size_bytes, loom_zip *out, loom_error *err) {
    memset(out, 0, sizeof *out);
    zip_dir dir = {0};
    loom_status st = locate_dir(data, size_bytes, &dir, err);
    if (st != LOOM_OK) return st;
    loom_zip_entry *entries = calloc(dir.count ? (size_t)dir.count : 1, sizeof *entries);
    if (!entries)
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory reading a zip directory of %llu entries",
                         (unsigned long long)dir.count);
    loom_cursor c = cursor_at(data, (size_t)(dir.offset + dir.size_bytes), (size_t)dir.offset);
    for (size_t i = 0; i < dir.count && st == LOOM_OK; i++) st = read_entry(data, size_bytes, &c, &entries[i], err);
    if (st != LOOM_OK) {
        free(entries);
        return st;
    }
    out->entries = entries;
    out->count = (size_t)dir.count;
    return LOOM_OK;
}

const loom_zip_entry *zip_find(const loom_zip *z, const char *name, size_t name_len) {
    for (size_t i = 0; i < z->count; i++)
        if (z->entries[i].name_len == name_len && memcmp(z->entries[i].name, name, name_len) == 0)
            return &z->entries[i];
    return NULL;
}

void zip_free(loom_zip *z) {
    free(z->entries);
    z->entries = NULL;
    z->count = 0;
}
