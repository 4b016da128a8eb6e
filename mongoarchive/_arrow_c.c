/* The compiled twin of mongoarchive/_arrow_scan.py: the same two functions, the
 * same results (tests/test_arrow_scan.py holds them equal, fuzz/fuzz_export.py too).
 *
 * check(buf, program) -> (count, rows, offsets): the documents of a stream of
 * BSON documents that must take the careful Python path before pymongoarrow
 * (mongoarchive/_arrow_fit.py) because a value might not come through intact.
 * shapes(buf) -> offsets of the first document of each distinct shape, the
 * only ones schema inference has to look at.
 *
 * Both are conservative: any byte they do not understand sends the document
 * to Python, which raises the precise error.  Every read is checked against
 * the borrowed buffer; lengths are int32 read little-endian (bsonspec.org).
 * What they share with the Arrow builder is in mongoarchive/_arrow_common.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_arrow_common.h"


static int fits(Node *n, const unsigned char *b, int t, Py_ssize_t s, Py_ssize_t e);

/* The embedded document (struct) or array (list) at b[s:e]: 1 if it fits. */
static int
fits_container(Node *n, const unsigned char *b, Py_ssize_t s, Py_ssize_t e)
{
    if (e - s < MIN_SIZE || b[e - 1] != 0)
        return 0;
    Py_ssize_t end = e - 1, pos = s + 4;
    int filled = 0;
    if (n->kind == K_STRUCT)
        memset(n->seen, 0, (size_t)(n->nchildren ? n->nchildren : 1));
    while (pos < end) {
        int t = b[pos];
        Py_ssize_t kl = key_len(b, pos, end);
        if (kl < 0)
            return 0;
        Py_ssize_t vs = pos + 2 + kl;
        Py_ssize_t ve = value_end(b, t, vs, end);
        if (ve < 0)
            return 0;
        if (n->kind == K_STRUCT) {
            Py_ssize_t i;
            for (i = 0; i < n->nchildren; i++)
                if (n->keylens[i] == kl && memcmp(n->keys[i], b + pos + 1, (size_t)kl) == 0)
                    break;
            if (i == n->nchildren || n->seen[i])
                return 0;
            n->seen[i] = 1;
            if (t != 0x0A) {
                if (!fits(n->children[i], b, t, vs, ve))
                    return 0;
                filled = 1;
            }
        } else if (t != 0x0A && !fits(n->item, b, t, vs, ve)) {
            return 0;
        }
        pos = ve;
    }
    if (pos != end)
        return 0;
    return n->kind == K_LIST || filled;
}

static int
fits(Node *n, const unsigned char *b, int t, Py_ssize_t s, Py_ssize_t e)
{
    if (t == 0x0A)
        return 1;
    switch (n->kind) {
    case K_INT32: return t == 0x10;
    case K_INT64: return t == 0x10 || t == 0x12;
    case K_DOUBLE:
        if (t == 0x10)
            return 1;
        if (t == 0x01) {
            double d;
            uint64_t v = 0;
            for (int i = 7; i >= 0; i--)
                v = (v << 8) | b[s + i];
            memcpy(&d, &v, 8);
            return !isnan(d); /* pymongoarrow writes NaN as null */
        }
        return 0;
    case K_STRING: return t == 0x02;
    case K_BOOL: return t == 0x08;
    case K_OBJECTID: return t == 0x07;
    case K_DATE: return t == 0x09;
    case K_DECIMAL: return t == 0x13;
    case K_BINARY: return t == 0x05 && b[s + 4] == n->subtype;
    case K_CODE: return t == 0x0D;
    case K_STRUCT: return t == 0x03 && fits_container(n, b, s, e);
    case K_LIST: return t == 0x04 && fits_container(n, b, s, e);
    default: return 0; /* json, null: decided at the top level */
    }
}

/* 1 if the document at b[0:size] goes to pymongoarrow as it is. */
static int
document_fits(Node *top, const unsigned char *b, Py_ssize_t size)
{
    Py_ssize_t end = size - 1, pos = 4, hint = 0;
    memset(top->seen, 0, (size_t)(top->nchildren ? top->nchildren : 1));
    while (pos < end) {
        int t = b[pos];
        Py_ssize_t kl = key_len(b, pos, end);
        if (kl < 0)
            return 0;
        Py_ssize_t vs = pos + 2 + kl;
        Py_ssize_t ve = value_end(b, t, vs, end);
        if (ve < 0)
            return 0;
        /* Documents mostly keep their columns' order: try the next column first. */
        Py_ssize_t i = -1;
        for (Py_ssize_t j = 0; j < top->nchildren; j++) {
            Py_ssize_t c = (hint + j) % top->nchildren;
            if (top->keylens[c] == kl && memcmp(top->keys[c], b + pos + 1, (size_t)kl) == 0) {
                i = c;
                break;
            }
        }
        if (i < 0 || top->seen[i])
            return 0;
        top->seen[i] = 1;
        hint = i + 1;
        Node *n = top->children[i];
        if (n->kind == K_JSON)
            return 0; /* its cell is Extended JSON text, written in Python */
        if (n->kind == K_NULL) {
            if (t != 0x0A)
                return 0;
        } else if (!fits(n, b, t, vs, ve)) {
            return 0;
        }
        pos = ve;
    }
    return pos == end;
}

static PyObject *
bad_framing(Py_ssize_t pos)
{
    PyErr_Format(PyExc_ValueError, "no complete document at byte %zd of the batch", pos);
    return NULL;
}

static PyObject *
check(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view, prog;
    Node *top = batch_and_program("check", args, nargs, &view, &prog);
    if (top == NULL)
        return NULL;
    PyObject *rows = NULL, *offsets = NULL, *result = NULL;
    rows = PyList_New(0);
    offsets = PyList_New(0);
    if (rows == NULL || offsets == NULL)
        goto done;
    const unsigned char *b = view.buf;
    Py_ssize_t pos = 0, count = 0;
    while (pos < view.len) {
        Py_ssize_t size = framed(b, pos, view.len);
        if (size < 0) {
            bad_framing(pos);
            goto done;
        }
        if (!document_fits(top, b + pos, size)) {
            PyObject *r = PyLong_FromSsize_t(count), *o = PyLong_FromSsize_t(pos);
            int bad = r == NULL || o == NULL || PyList_Append(rows, r) < 0 || PyList_Append(offsets, o) < 0;
            Py_XDECREF(r);
            Py_XDECREF(o);
            if (bad)
                goto done;
        }
        pos += size;
        count++;
    }
    result = Py_BuildValue("(nOO)", count, rows, offsets);
done:
    free_tree(top);
    Py_XDECREF(rows);
    Py_XDECREF(offsets);
    PyBuffer_Release(&prog);
    PyBuffer_Release(&view);
    return result;
}

/* The shape of the document b[s:e] into out (room enough: 2 bytes per input byte).
 * Per element: type, key and NUL (not for array items), a binary's subtype, and
 * for a document or an array its elements' shapes and a 0xFE closing byte;
 * consecutive array items of the same shape are written once.  -1 on bad bytes. */
static Py_ssize_t
shape(const unsigned char *b, Py_ssize_t s, Py_ssize_t e, int array, unsigned char *out, Py_ssize_t o,
      int depth)
{
    if (depth > MAX_DEPTH || e - s < MIN_SIZE || b[e - 1] != 0 || load_int32(b + s) != e - s)
        return -1;
    Py_ssize_t end = e - 1, pos = s + 4, prev = -1;
    while (pos < end) {
        int t = b[pos];
        Py_ssize_t kl = key_len(b, pos, end);
        if (kl < 0)
            return -1;
        Py_ssize_t vs = pos + 2 + kl;
        Py_ssize_t ve = value_end(b, t, vs, end);
        if (ve < 0)
            return -1;
        Py_ssize_t here = o;
        out[o++] = (unsigned char)t;
        if (!array) {
            memcpy(out + o, b + pos + 1, (size_t)kl);
            o += kl;
            out[o++] = 0;
        }
        if (t == 0x05) {
            out[o++] = b[vs + 4];
        } else if (t == 0x03 || t == 0x04) {
            o = shape(b, vs, ve, t == 0x04, out, o, depth + 1);
            if (o < 0)
                return -1;
            out[o++] = 0xFE;
        }
        if (array) {
            if (prev >= 0 && o - here == here - prev && memcmp(out + prev, out + here, (size_t)(o - here)) == 0)
                o = here;
            else
                prev = here;
        }
        pos = ve;
    }
    return pos == end ? o : -1;
}

static PyObject *
shapes(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *seen = PyDict_New(), *firsts = PyList_New(0), *result = NULL;
    unsigned char *out = NULL;
    Py_ssize_t cap = 0;
    if (seen == NULL || firsts == NULL)
        goto done;
    const unsigned char *b = view.buf;
    Py_ssize_t pos = 0;
    while (pos < view.len) {
        Py_ssize_t size = framed(b, pos, view.len);
        if (size < 0) {
            bad_framing(pos);
            goto done;
        }
        if (2 * size + 16 > cap) {
            PyMem_Free(out);
            cap = 2 * size + 16;
            out = PyMem_Malloc((size_t)cap);
            if (out == NULL) {
                PyErr_NoMemory();
                goto done;
            }
        }
        Py_ssize_t n = shape(b, pos, pos + size, 0, out, 0, 0);
        int first = 1;
        if (n >= 0) {
            PyObject *key = PyBytes_FromStringAndSize((const char *)out, n);
            if (key == NULL)
                goto done;
            first = PyDict_Contains(seen, key) == 0;
            int bad = first && PyDict_SetItem(seen, key, Py_None) < 0;
            Py_DECREF(key);
            if (bad)
                goto done;
        }
        if (first) { /* a new shape, or bytes Python must look at */
            PyObject *o = PyLong_FromSsize_t(pos);
            int bad = o == NULL || PyList_Append(firsts, o) < 0;
            Py_XDECREF(o);
            if (bad)
                goto done;
        }
        pos += size;
    }
    result = firsts;
    Py_INCREF(result);
done:
    PyMem_Free(out);
    Py_XDECREF(seen);
    Py_XDECREF(firsts);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"check", (PyCFunction)(void (*)(void))check, METH_FASTCALL,
     "check(buf, program) -> (count, rows, offsets) of the documents for the careful path."},
    {"shapes", shapes, METH_O, "shapes(buf) -> offsets of the first document of each distinct shape."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arrow_c", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__arrow_c(void)
{
    return PyModule_Create(&module);
}
