/* The Arrow buffers of a batch of BSON documents, built in one pass (docs/export.md, "Types").
 *
 * build(buf, program) -> (count, columns) or None.  ``buf`` holds documents
 * back to back that have passed the check of mongoarchive/_arrow_c.c (or the
 * careful path of mongoarchive/_arrow_fit.py): every field has its column and
 * a value that column takes.  ``program`` is _arrow_schema.program's encoding
 * of the columns.  Per column, in program order, the result is
 *
 *     (length, null_count, validity or None, (buffer, ...), [child, ...])
 *
 * with the buffers of the column's Arrow type as mongoarchive/_arrow.py lays
 * them out (a string's offsets then its bytes; a list's offsets and its item
 * as the one child; a struct's children), or None for a json or null column,
 * which Python fills.  Any byte this builder does not expect, or a kind it has
 * no builder for, gives None: the caller then builds the batch through
 * pymongoarrow, the reference this builder is tested against
 * (tests/test_arrow_build.py).  Lengths are int32 read little-endian
 * (bsonspec.org); every read is checked against the document's bounds.
 * What it shares with _arrow_c.c is in mongoarchive/_arrow_common.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_arrow_common.h"

/* Room for ``more`` bytes at the end of b; 0 on failure (memory). */
static int
reserve(Buf *b, Py_ssize_t more)
{
    if (b->len + more <= b->cap)
        return 1;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *p = PyMem_Realloc(b->p, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static inline int
put(Buf *b, const void *src, Py_ssize_t n)
{
    if (!reserve(b, n))
        return 0;
    memcpy(b->p + b->len, src, (size_t)n);
    b->len += n;
    return 1;
}

/* Bit ``i`` of a bitmap set to ``on`` (the bitmap grows a byte at a time). */
static inline int
put_bit(Buf *b, Py_ssize_t i, int on)
{
    if ((i & 7) == 0) {
        if (!reserve(b, 1))
            return 0;
        b->p[b->len++] = 0;
    }
    if (on)
        b->p[i >> 3] |= (unsigned char)(1u << (i & 7));
    return 1;
}

static inline int
put_offset(Buf *b, Py_ssize_t v)
{
    if (v > INT32_MAX)
        return 0;
    int32_t o = (int32_t)v;
    return put(b, &o, 4);
}

/* Ready a parsed column for building: 1; 0 if this builder has no builder for it or for
 * one inside it (the old binary subtype 2; json or null below the top level, which
 * _arrow_schema never makes); -1 with MemoryError set. */
static int
prepare(Node *c, int top)
{
    if (c->kind == K_BINARY && c->subtype == 2) /* its value holds a second length */
        return 0;
    if (!top && (c->kind == K_JSON || c->kind == K_NULL))
        return 0;
    if (c->kind == K_STRING || c->kind == K_CODE || c->kind == K_BINARY || c->kind == K_LIST) {
        if (!put_offset(&c->offsets, 0))
            return -1;
    }
    int ok = 1;
    for (Py_ssize_t i = 0; ok > 0 && c->kind == K_STRUCT && i < c->nchildren; i++)
        ok = prepare(c->children[i], 0);
    if (ok > 0 && c->kind == K_LIST)
        ok = prepare(c->item, 0);
    return ok;
}

/* The width of a fixed-width column's value; 0 for the others. */
static inline Py_ssize_t
width(int kind)
{
    switch (kind) {
    case K_INT32: return 4;
    case K_INT64: case K_DOUBLE: case K_DATE: return 8;
    case K_OBJECTID: return 12;
    case K_DECIMAL: return 16;
    default: return 0;
    }
}

/* A null slot: zeros for a fixed-width value, an empty string or list, a null in every child. */
static int
append_null(Node *c)
{
    if (c->kind == K_JSON || c->kind == K_NULL)
        return 1;
    if (!put_bit(&c->valid, c->length, 0))
        return 0;
    Py_ssize_t w = width(c->kind);
    if (w) {
        if (!reserve(&c->data, w))
            return 0;
        memset(c->data.p + c->data.len, 0, (size_t)w);
        c->data.len += w;
    } else if (c->kind == K_BOOL) {
        if (!put_bit(&c->data, c->length, 0))
            return 0;
    } else if (c->kind == K_STRUCT) {
        for (Py_ssize_t i = 0; i < c->nchildren; i++)
            if (!append_null(c->children[i]))
                return 0;
    } else if (c->kind == K_LIST) {
        if (!put_offset(&c->offsets, c->item->length))
            return 0;
    } else if (!put_offset(&c->offsets, c->data.len)) {
        return 0;
    }
    c->length++;
    c->nulls++;
    return 1;
}

static int append_fields(Node *c, const unsigned char *b, Py_ssize_t s, Py_ssize_t e, int depth);

/* The value of type t at b[s:e] appended to c: 1, or 0 if it is not one c takes (or on memory). */
static int
append_value(Node *c, const unsigned char *b, int t, Py_ssize_t s, Py_ssize_t e, int depth)
{
    if (t == 0x0A)
        return append_null(c);
    switch (c->kind) {
    case K_INT32:
        if (t != 0x10 || !put(&c->data, b + s, 4))
            return 0;
        break;
    case K_INT64: {
        int64_t v;
        if (t == 0x10)
            v = load_int32(b + s);
        else if (t == 0x12)
            memcpy(&v, b + s, 8);
        else
            return 0;
        if (!put(&c->data, &v, 8))
            return 0;
        break;
    }
    case K_DOUBLE: {
        double d;
        if (t == 0x10) {
            d = (double)load_int32(b + s);
        } else if (t == 0x01) {
            memcpy(&d, b + s, 8);
            if (isnan(d)) /* pymongoarrow writes NaN as null; the careful path keeps it */
                return 0;
        } else {
            return 0;
        }
        if (!put(&c->data, &d, 8))
            return 0;
        break;
    }
    case K_DATE: case K_OBJECTID: case K_DECIMAL: /* their bytes as they are */
        if (t != (c->kind == K_DATE ? 0x09 : c->kind == K_OBJECTID ? 0x07 : 0x13))
            return 0;
        if (!put(&c->data, b + s, width(c->kind)))
            return 0;
        break;
    case K_BOOL:
        if (t != 0x08 || b[s] > 1 || !put_bit(&c->data, c->length, b[s]))
            return 0;
        break;
    case K_STRING: case K_CODE: {
        if (t != (c->kind == K_STRING ? 0x02 : 0x0D) || b[e - 1] != 0)
            return 0;
        if (!put(&c->data, b + s + 4, e - s - 5) || !put_offset(&c->offsets, c->data.len))
            return 0;
        break;
    }
    case K_BINARY:
        if (t != 0x05 || b[s + 4] != c->subtype)
            return 0;
        if (!put(&c->data, b + s + 5, e - s - 5) || !put_offset(&c->offsets, c->data.len))
            return 0;
        break;
    case K_STRUCT: {
        if (t != 0x03)
            return 0;
        int filled = append_fields(c, b, s, e, depth + 1);
        if (filled < 0)
            return 0;
        /* A document with no value at all reads back as a null struct (see _arrow._plain). */
        if (!put_bit(&c->valid, c->length, filled))
            return 0;
        c->length++;
        c->nulls += !filled;
        return 1;
    }
    case K_LIST:
        if (t != 0x04 || append_fields(c, b, s, e, depth + 1) < 0)
            return 0;
        if (!put_offset(&c->offsets, c->item->length))
            return 0;
        break;
    default: /* json, null: not in a document that reaches this builder */
        return 0;
    }
    if (!put_bit(&c->valid, c->length, 1))
        return 0;
    c->length++;
    return 1;
}

/* The elements of the document (struct) or array (list) at b[s:e] appended to c's children
 * (a struct's missing fields as nulls).  1 if a value was not null, 0 if none was, -1 if
 * the bytes are not what c takes. */
static int
append_fields(Node *c, const unsigned char *b, Py_ssize_t s, Py_ssize_t e, int depth)
{
    if (depth > MAX_DEPTH || e - s < MIN_SIZE || load_int32(b + s) != e - s || b[e - 1] != 0)
        return -1;
    Py_ssize_t end = e - 1, pos = s + 4, hint = 0;
    int filled = 0;
    int is_struct = c->kind == K_STRUCT;
    if (is_struct && c->nchildren)
        memset(c->seen, 0, (size_t)c->nchildren);
    while (pos < end) {
        int t = b[pos];
        const unsigned char *key = b + pos + 1;
        Py_ssize_t kl = key_len(b, pos, end);
        if (kl < 0)
            return -1;
        Py_ssize_t vs = pos + 2 + kl;
        Py_ssize_t ve = value_end(b, t, vs, end);
        if (ve < 0)
            return -1;
        Node *child;
        if (is_struct) {
            /* Documents mostly keep their columns' order: try the next column first. */
            Py_ssize_t i = -1, n = c->nchildren;
            for (Py_ssize_t j = 0; j < n; j++) {
                Py_ssize_t k = hint + j < n ? hint + j : hint + j - n;
                if (c->keylens[k] == kl && memcmp(c->keys[k], key, (size_t)kl) == 0) {
                    i = k;
                    break;
                }
            }
            if (i < 0 || c->seen[i])
                return -1;
            c->seen[i] = 1;
            hint = i + 1;
            child = c->children[i];
        } else {
            child = c->item;
        }
        if (child->kind == K_JSON || (child->kind == K_NULL && t != 0x0A))
            return -1;
        Py_ssize_t nulls = child->nulls;
        if (!append_value(child, b, t, vs, ve, depth))
            return -1;
        filled |= child->nulls == nulls; /* a null struct (no value inside) is not a value */
        pos = ve;
    }
    if (pos != end)
        return -1;
    if (is_struct)
        for (Py_ssize_t i = 0; i < c->nchildren; i++)
            if (!c->seen[i] && !append_null(c->children[i]))
                return -1;
    return filled;
}

static PyObject *
take(Buf *b)
{
    return PyBytes_FromStringAndSize((const char *)b->p, b->len);
}

static PyObject *result_of(Node *c);

/* The results of ``n`` columns appended to ``list``; 0 with an exception set. */
static int
append_results(PyObject *list, Node **cols, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = result_of(cols[i]);
        int bad = r == NULL || PyList_Append(list, r) < 0;
        Py_XDECREF(r);
        if (bad)
            return 0;
    }
    return 1;
}

/* The result tuple of one column (see the top of this file). */
static PyObject *
result_of(Node *c)
{
    if (c->kind == K_JSON || c->kind == K_NULL)
        Py_RETURN_NONE;
    PyObject *valid = NULL, *bufs = NULL, *kids = NULL, *out = NULL;
    if (c->nulls) {
        valid = take(&c->valid);
    } else {
        valid = Py_None;
        Py_INCREF(valid);
    }
    if (valid == NULL)
        goto done;
    if (c->kind == K_STRUCT)
        bufs = PyTuple_New(0);
    else if (c->kind == K_LIST)
        bufs = Py_BuildValue("(N)", take(&c->offsets));
    else if (c->kind == K_STRING || c->kind == K_CODE || c->kind == K_BINARY)
        bufs = Py_BuildValue("(NN)", take(&c->offsets), take(&c->data));
    else
        bufs = Py_BuildValue("(N)", take(&c->data));
    kids = PyList_New(0);
    if (bufs == NULL || kids == NULL)
        goto done;
    if (c->kind == K_STRUCT) {
        if (!append_results(kids, c->children, c->nchildren))
            goto done;
    } else if (c->kind == K_LIST && !append_results(kids, &c->item, 1)) {
        goto done;
    }
    out = Py_BuildValue("(nnOOO)", c->length, c->nulls, valid, bufs, kids);
done:
    Py_XDECREF(valid);
    Py_XDECREF(bufs);
    Py_XDECREF(kids);
    return out;
}

static PyObject *
build(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view, prog;
    Node *top = batch_and_program("build", args, nargs, &view, &prog);
    if (top == NULL)
        return NULL;
    PyObject *columns = NULL, *result = NULL;
    int ready = 1;
    for (Py_ssize_t i = 0; ready > 0 && i < top->nchildren; i++)
        ready = prepare(top->children[i], 1);
    if (ready < 0)
        goto done;
    if (ready == 0)
        goto unexpected;
    /* Each document is a row: its fields go to the columns (top itself holds nothing). */
    const unsigned char *b = view.buf;
    Py_ssize_t pos = 0, count = 0;
    while (pos < view.len) {
        Py_ssize_t size = framed(b, pos, view.len);
        if (size < 0 || append_fields(top, b, pos, pos + size, 0) < 0)
            goto unexpected;
        pos += size;
        count++;
    }
    columns = PyList_New(0);
    if (columns == NULL)
        goto done;
    if (!append_results(columns, top->children, top->nchildren))
        goto done;
    result = Py_BuildValue("(nO)", count, columns);
    goto done;
unexpected:
    if (!PyErr_Occurred()) {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    free_tree(top);
    Py_XDECREF(columns);
    PyBuffer_Release(&prog);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"build", (PyCFunction)(void (*)(void))build, METH_FASTCALL,
     "build(buf, program) -> (count, columns), or None where pymongoarrow must build the batch."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arrow_build_c", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__arrow_build_c(void)
{
    return PyModule_Create(&module);
}
