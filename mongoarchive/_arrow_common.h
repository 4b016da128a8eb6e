/* What the compiled Arrow scans (mongoarchive/_arrow_c.c) and the Arrow builder
 * (mongoarchive/_arrow_build_c.c) share: the column kinds of _arrow_schema.program
 * and its parser, little-endian lengths, where a BSON value ends, and the framing
 * of a batch.
 * Every read is checked against the bounds given (bsonspec.org).
 */
#ifndef MONGOARCHIVE_ARROW_COMMON_H
#define MONGOARCHIVE_ARROW_COMMON_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MIN_SIZE 5
#define MAX_SIZE 16777216
#define MAX_DEPTH 200

/* Column kinds, as _arrow_schema.program encodes them. */
enum { K_INT32 = 1, K_INT64, K_DOUBLE, K_STRING, K_BOOL, K_OBJECTID, K_DATE, K_DECIMAL,
       K_BINARY, K_CODE, K_STRUCT, K_LIST, K_JSON, K_NULL };

/* A growing byte buffer (the builder's column buffers). */
typedef struct {
    unsigned char *p;
    Py_ssize_t len, cap;
} Buf;

typedef struct Node {
    int kind;
    int subtype;
    Py_ssize_t nchildren;
    const unsigned char **keys; /* struct: child keys (into the program) */
    Py_ssize_t *keylens;
    struct Node **children;
    struct Node *item;          /* list */
    unsigned char *seen;        /* struct: one flag per child, cleared per use */
    /* The column's buffers, filled by the builder only (mongoarchive/_arrow_build_c.c). */
    Py_ssize_t length, nulls;
    Buf valid;   /* one bit per slot */
    Buf data;    /* fixed-width values, the bits of a bool, or the bytes of a string/binary */
    Buf offsets; /* int32, length + 1 of them: string, code, binary, list */
} Node;

typedef struct {
    const unsigned char *p;
    Py_ssize_t len;
    Py_ssize_t pos;
    int depth;
} Parser;

static void
free_tree(Node *n)
{
    if (n == NULL)
        return;
    if (n->children != NULL)
        for (Py_ssize_t i = 0; i < n->nchildren; i++)
            free_tree(n->children[i]);
    free_tree(n->item);
    PyMem_Free(n->keys);
    PyMem_Free(n->keylens);
    PyMem_Free(n->children);
    PyMem_Free(n->seen);
    PyMem_Free(n->valid.p);
    PyMem_Free(n->data.p);
    PyMem_Free(n->offsets.p);
    PyMem_Free(n);
}

/* One node of the program: kind byte; binary: subtype byte; struct: u16 count,
 * then (u16 key length, key, node) per child; list: its item node.  NULL on bad
 * bytes, or with MemoryError set. */
static Node *
parse_node(Parser *ps)
{
    if (ps->pos >= ps->len || ++ps->depth > MAX_DEPTH)
        return NULL;
    Node *n = PyMem_Calloc(1, sizeof(Node));
    if (n == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    n->kind = ps->p[ps->pos++];
    if (n->kind < K_INT32 || n->kind > K_NULL)
        goto fail;
    if (n->kind == K_BINARY) {
        if (ps->pos >= ps->len)
            goto fail;
        n->subtype = ps->p[ps->pos++];
    } else if (n->kind == K_STRUCT) {
        if (ps->len - ps->pos < 2)
            goto fail;
        n->nchildren = ps->p[ps->pos] | (ps->p[ps->pos + 1] << 8);
        ps->pos += 2;
        Py_ssize_t m = n->nchildren ? n->nchildren : 1;
        n->keys = PyMem_Calloc(m, sizeof(*n->keys));
        n->keylens = PyMem_Calloc(m, sizeof(*n->keylens));
        n->children = PyMem_Calloc(m, sizeof(*n->children));
        n->seen = PyMem_Calloc(m, 1);
        if (!n->keys || !n->keylens || !n->children || !n->seen) {
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t i = 0; i < n->nchildren; i++) {
            if (ps->len - ps->pos < 2)
                goto fail;
            Py_ssize_t kl = ps->p[ps->pos] | (ps->p[ps->pos + 1] << 8);
            ps->pos += 2;
            if (ps->len - ps->pos < kl)
                goto fail;
            n->keys[i] = ps->p + ps->pos;
            n->keylens[i] = kl;
            ps->pos += kl;
            n->children[i] = parse_node(ps);
            if (n->children[i] == NULL)
                goto fail;
        }
    } else if (n->kind == K_LIST) {
        n->item = parse_node(ps);
        if (n->item == NULL)
            goto fail;
    }
    ps->depth--;
    return n;
fail:
    free_tree(n);
    return NULL;
}

static inline int32_t
load_int32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return (int32_t)v;
}

/* Where the value of type t at b[s] ends, or -1 if it is not within [s, end]. */
static Py_ssize_t
value_end(const unsigned char *b, int t, Py_ssize_t s, Py_ssize_t end)
{
    Py_ssize_t room = end - s, n;
    switch (t) {
    case 0x01: case 0x09: case 0x11: case 0x12: n = 8; break;
    case 0x07: n = 12; break;
    case 0x08: n = 1; break;
    case 0x10: n = 4; break;
    case 0x13: n = 16; break;
    case 0x06: case 0x0A: case 0xFF: case 0x7F: n = 0; break;
    case 0x02: case 0x0D: case 0x0E:
        if (room < 4)
            return -1;
        n = (Py_ssize_t)load_int32(b + s);
        if (n < 1 || n > room - 4)
            return -1;
        n += 4;
        break;
    case 0x03: case 0x04: case 0x0F:
        if (room < 4)
            return -1;
        n = (Py_ssize_t)load_int32(b + s);
        if (n < MIN_SIZE)
            return -1;
        break;
    case 0x05:
        if (room < 5)
            return -1;
        n = (Py_ssize_t)load_int32(b + s);
        if (n < 0 || n > room - 5)
            return -1;
        n += 5;
        break;
    case 0x0C:
        if (room < 4)
            return -1;
        n = (Py_ssize_t)load_int32(b + s);
        if (n < 1 || n > room - 16)
            return -1;
        n += 16;
        break;
    case 0x0B: {
        const unsigned char *a = memchr(b + s, 0, (size_t)room);
        if (a == NULL)
            return -1;
        const unsigned char *c = memchr(a + 1, 0, (size_t)(b + end - (a + 1)));
        if (c == NULL)
            return -1;
        return (c + 1) - b;
    }
    default:
        return -1;
    }
    if (n > room)
        return -1;
    return s + n;
}

/* The key at b[pos + 1]: its length, or -1 without a NUL before end. */
static inline Py_ssize_t
key_len(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end)
{
    const unsigned char *z = memchr(b + pos + 1, 0, (size_t)(end - pos - 1));
    return z == NULL ? -1 : z - (b + pos + 1);
}

/* The length of the document at b[pos] within len, or -1 if it is not one (spec §2). */
static Py_ssize_t
framed(const unsigned char *b, Py_ssize_t pos, Py_ssize_t len)
{
    if (len - pos < 4)
        return -1;
    Py_ssize_t size = load_int32(b + pos);
    if (size < MIN_SIZE || size > MAX_SIZE || size > len - pos || b[pos + size - 1] != 0)
        return -1;
    return size;
}

/* The batch and the parsed program of check(buf, program) and build(buf, program):
 * the top node, or NULL with an exception set (a bad program is ValueError).  The
 * caller frees the tree and releases both buffers. */
static Node *
batch_and_program(const char *name, PyObject *const *args, Py_ssize_t nargs, Py_buffer *view,
                  Py_buffer *prog)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 2 arguments (%zd given)", name, nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], prog, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(view);
        return NULL;
    }
    Parser ps = {prog->buf, prog->len, 0, 0};
    Node *top = parse_node(&ps);
    if (top == NULL || top->kind != K_STRUCT || ps.pos != ps.len) {
        free_tree(top);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "not a column program");
        PyBuffer_Release(prog);
        PyBuffer_Release(view);
        return NULL;
    }
    return top;
}

#endif
