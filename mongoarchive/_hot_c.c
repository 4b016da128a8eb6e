/* The compiled twin of mongoarchive/_hot.py: the same three functions, the same
 * results, the same argument checks and error texts (tests/test_hot_twin.py).
 *
 * Memory safety on hostile input: the buffer is borrowed through the buffer
 * protocol before any argument is converted, so a bytearray resized meanwhile
 * (by an __index__ method) raises BufferError instead of moving under us; every
 * read is checked against the borrowed length; positions are clamped to
 * Py_ssize_t and checked before use, and no sum of two positions can overflow.
 * Spec/archive.md section 2: a document starts with its int32 length
 * (5 ..= 16 MiB, little-endian) and ends with a NUL byte.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define MIN_SIZE 5
#define MAX_SIZE 16777216

/* The int32 at p, little-endian whatever the host's byte order. */
static inline int32_t
load_int32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return (int32_t)v;
}

/* Borrow args[0] and convert args[1] (pos) and args[2] (limit) as _hot._span does:
 * 0 <= pos <= len, limit cut to len and raised to pos (no document fits then,
 * and limit - pos cannot overflow).  On failure the buffer is released. */
static int
get_span(const char *name, PyObject *const *args, Py_ssize_t nargs, Py_buffer *view,
         Py_ssize_t *pos, Py_ssize_t *limit)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 3 arguments (%zd given)", name, nargs);
        return -1;
    }
    if (PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE) < 0)
        return -1;
    /* NULL: clamp an int beyond Py_ssize_t instead of raising OverflowError. */
    Py_ssize_t p = PyNumber_AsSsize_t(args[1], NULL);
    if (p == -1 && PyErr_Occurred())
        goto fail;
    Py_ssize_t l = PyNumber_AsSsize_t(args[2], NULL);
    if (l == -1 && PyErr_Occurred())
        goto fail;
    if (p < 0 || p > view->len) {
        PyErr_SetString(PyExc_ValueError, "pos is outside the buffer");
        goto fail;
    }
    if (l > view->len)
        l = view->len;
    if (l < p)
        l = p;
    *pos = p;
    *limit = l;
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

/* Complete, NUL-ended documents from pos: returns the end; *count and *last as in _hot. */
static Py_ssize_t
scan(const unsigned char *b, Py_ssize_t pos, Py_ssize_t limit, Py_ssize_t *count, Py_ssize_t *last)
{
    Py_ssize_t n = 0, at = pos;
    while (limit - pos >= 4) {
        int32_t size = load_int32(b + pos);
        if (size < MIN_SIZE || size > MAX_SIZE || size > limit - pos)
            break;
        if (b[pos + size - 1])
            break;
        at = pos;
        pos += size;
        n++;
    }
    *count = n;
    *last = at;
    return pos;
}

PyDoc_STRVAR(scan_run_doc,
"scan_run(buf, pos, limit) -> (end, count)\n\n"
"Skip complete, NUL-terminated documents in buf[pos:limit].");

static PyObject *
scan_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos, limit, count, last;
    if (get_span("scan_run", args, nargs, &view, &pos, &limit) < 0)
        return NULL;
    Py_ssize_t end = scan((const unsigned char *)view.buf, pos, limit, &count, &last);
    PyBuffer_Release(&view);
    return Py_BuildValue("(nn)", end, count);
}

PyDoc_STRVAR(scan_last_doc,
"scan_last(buf, pos, limit) -> (end, count, last)\n\n"
"As scan_run, and where the last document starts (pos if none).");

static PyObject *
scan_last(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos, limit, count, last;
    if (get_span("scan_last", args, nargs, &view, &pos, &limit) < 0)
        return NULL;
    Py_ssize_t end = scan((const unsigned char *)view.buf, pos, limit, &count, &last);
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnn)", end, count, last);
}

PyDoc_STRVAR(split_run_doc,
"split_run(buf, start, end) -> [(start, end), ...]\n\n"
"(start, end) of each document of a run scan_run already framed; ValueError if it is not.");

static PyObject *
split_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t start, end;
    if (get_span("split_run", args, nargs, &view, &start, &end) < 0)
        return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        goto fail;
    while (start < end) {
        int32_t size = 0;
        if (end - start >= 4)
            size = load_int32(b + start);
        if (size < MIN_SIZE || size > MAX_SIZE || size > end - start) {
            PyErr_Format(PyExc_ValueError, "the run is not framed at position %zd", start);
            goto fail;
        }
        PyObject *pair = Py_BuildValue("(nn)", start, start + size);
        if (pair == NULL)
            goto fail;
        int rc = PyList_Append(out, pair);
        Py_DECREF(pair);
        if (rc < 0)
            goto fail;
        start += size;
    }
    PyBuffer_Release(&view);
    return out;
fail:
    Py_XDECREF(out);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef hot_methods[] = {
    {"scan_run", (PyCFunction)(void (*)(void))scan_run, METH_FASTCALL, scan_run_doc},
    {"scan_last", (PyCFunction)(void (*)(void))scan_last, METH_FASTCALL, scan_last_doc},
    {"split_run", (PyCFunction)(void (*)(void))split_run, METH_FASTCALL, split_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef hot_module = {
    PyModuleDef_HEAD_INIT,
    "mongoarchive._hot_c",
    "The compiled twin of mongoarchive._hot (the per-document loops).",
    0,
    hot_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__hot_c(void)
{
    return PyModule_Create(&hot_module);
}
