/* Avro binary decoding in C, driven by a program that streams/codec/native.py builds from a schema.
 *
 * The compiled Python decoders (compiled.py) spend most of their time in the interpreter's
 * dispatch between a few byte operations per field; here the same reads run as C. The result is
 * the same dict (or row tuple) the Python decoder gives, and bytes that are not a value of the
 * schema raise ValueError (or UnicodeDecodeError) as it does: every read is bounds-checked.
 *
 * A program node is a tuple whose first item is its operation:
 *   (NULL,) (BOOLEAN,) (LONG,) (FLOAT,) (DOUBLE,) (STRING,) (BYTES,) (FIXED, size)
 *   (ENUM, symbols) (UNION, branches) (ARRAY, item, least) (MAP, value, least)
 *   (RECORD, keys, fields, slots, width)
 * `least` is the fewest bytes an item takes (bounds hostile counts); a record's `slots` is None
 * for a dict, or per field its column in a row tuple of `width` (-1: read and dropped).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

enum { OP_NULL, OP_BOOLEAN, OP_LONG, OP_FLOAT, OP_DOUBLE, OP_STRING, OP_BYTES, OP_FIXED, OP_ENUM, OP_UNION,
       OP_ARRAY, OP_MAP, OP_RECORD };

typedef struct {
    const unsigned char *d;
    Py_ssize_t len;
    Py_ssize_t p;
} Reader;

static PyObject *fail(const char *message) {
    PyErr_SetString(PyExc_ValueError, message);
    return NULL;
}

static int past_end(void) {
    PyErr_SetString(PyExc_IndexError, "index out of range");
    return -1;
}

/* A zigzag varint of at most ten bytes, as compiled._read_long. */
static int read_long(Reader *r, long long *out) {
    unsigned long long n = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->len) return past_end();
        unsigned char b = r->d[r->p++];
        if (i == 9 && b > 1) {
            PyErr_SetString(PyExc_ValueError, "varint beyond 64 bits");
            return -1;
        }
        n |= (unsigned long long)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = (long long)(n >> 1) ^ -(long long)(n & 1);
            return 0;
        }
    }
    return past_end(); /* not reached: the tenth byte is at most 1 */
}

static int read_length(Reader *r, Py_ssize_t *out) {
    long long n;
    if (read_long(r, &n) < 0) return -1;
    if (n < 0) {
        PyErr_Format(PyExc_ValueError, "negative length %lld", n);
        return -1;
    }
    if (n > r->len - r->p) {
        PyErr_SetString(PyExc_ValueError, "length runs past the end");
        return -1;
    }
    *out = (Py_ssize_t)n;
    return 0;
}

static PyObject *read_value(Reader *r, PyObject *node);

static PyObject *read_record(Reader *r, PyObject *node) {
    PyObject *keys = PyTuple_GET_ITEM(node, 1), *fields = PyTuple_GET_ITEM(node, 2);
    PyObject *slots = PyTuple_GET_ITEM(node, 3);
    Py_ssize_t count = PyTuple_GET_SIZE(fields);
    if (slots == Py_None) {
        PyObject *record = _PyDict_NewPresized(count);
        if (record == NULL) return NULL;
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *value = read_value(r, PyTuple_GET_ITEM(fields, i));
            if (value == NULL || PyDict_SetItem(record, PyTuple_GET_ITEM(keys, i), value) < 0) {
                Py_XDECREF(value);
                Py_DECREF(record);
                return NULL;
            }
            Py_DECREF(value);
        }
        return record;
    }
    Py_ssize_t width = PyLong_AsSsize_t(PyTuple_GET_ITEM(node, 4));
    PyObject *row = PyTuple_New(width);
    if (row == NULL) return NULL;
    for (Py_ssize_t c = 0; c < width; c++) {
        Py_INCREF(Py_None);
        PyTuple_SET_ITEM(row, c, Py_None);
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *value = read_value(r, PyTuple_GET_ITEM(fields, i));
        if (value == NULL) {
            Py_DECREF(row);
            return NULL;
        }
        Py_ssize_t slot = PyLong_AsSsize_t(PyTuple_GET_ITEM(slots, i));
        if (slot >= 0 && slot < width) {
            Py_DECREF(PyTuple_GET_ITEM(row, slot));
            PyTuple_SET_ITEM(row, slot, value);
        } else {
            Py_DECREF(value);
        }
    }
    return row;
}

static PyObject *read_items(Reader *r, PyObject *node, int is_map) {
    PyObject *inner = PyTuple_GET_ITEM(node, 1);
    Py_ssize_t least = PyLong_AsSsize_t(PyTuple_GET_ITEM(node, 2));
    PyObject *items = is_map ? PyDict_New() : PyList_New(0);
    if (items == NULL) return NULL;
    for (;;) {
        long long count;
        if (read_long(r, &count) < 0) goto error;
        if (count == 0) return items;
        if (count < 0) {
            long long size;
            count = -count; /* a block with its size in bytes, which is not needed */
            if (read_long(r, &size) < 0) goto error;
        }
        long long limit = least ? (r->len - r->p) / least : r->len;
        if (count > limit) {
            PyErr_Format(PyExc_ValueError, "block of %lld items runs past the end", count);
            goto error;
        }
        for (long long i = 0; i < count; i++) {
            if (is_map) {
                Py_ssize_t n;
                if (read_length(r, &n) < 0) goto error;
                PyObject *key = PyUnicode_DecodeUTF8((const char *)r->d + r->p, n, NULL);
                if (key == NULL) goto error;
                r->p += n;
                PyObject *value = read_value(r, inner);
                if (value == NULL || PyDict_SetItem(items, key, value) < 0) {
                    Py_DECREF(key);
                    Py_XDECREF(value);
                    goto error;
                }
                Py_DECREF(key);
                Py_DECREF(value);
            } else {
                PyObject *value = read_value(r, inner);
                if (value == NULL || PyList_Append(items, value) < 0) {
                    Py_XDECREF(value);
                    goto error;
                }
                Py_DECREF(value);
            }
        }
    }
error:
    Py_DECREF(items);
    return NULL;
}

static PyObject *read_value(Reader *r, PyObject *node) {
    long op = PyLong_AsLong(PyTuple_GET_ITEM(node, 0));
    long long n;
    Py_ssize_t size;
    PyObject *value;
    switch (op) {
    case OP_NULL:
        Py_RETURN_NONE;
    case OP_BOOLEAN:
        if (r->p >= r->len) return past_end(), NULL;
        n = r->d[r->p++];
        if (n > 1) return PyErr_Format(PyExc_ValueError, "boolean byte %lld", n);
        return PyBool_FromLong((long)n);
    case OP_LONG:
        if (read_long(r, &n) < 0) return NULL;
        return PyLong_FromLongLong(n);
    case OP_FLOAT:
        if (r->len - r->p < 4) return fail("float runs past the end");
        value = PyFloat_FromDouble(PyFloat_Unpack4((const char *)r->d + r->p, 1));
        r->p += 4;
        return value;
    case OP_DOUBLE:
        if (r->len - r->p < 8) return fail("double runs past the end");
        value = PyFloat_FromDouble(PyFloat_Unpack8((const char *)r->d + r->p, 1));
        r->p += 8;
        return value;
    case OP_STRING:
    case OP_BYTES:
    case OP_FIXED:
        if (op == OP_FIXED) {
            size = PyLong_AsSsize_t(PyTuple_GET_ITEM(node, 1));
            if (size > r->len - r->p) return fail("length runs past the end");
        } else if (read_length(r, &size) < 0) {
            return NULL;
        }
        value = op == OP_STRING ? PyUnicode_DecodeUTF8((const char *)r->d + r->p, size, NULL)
                                : PyBytes_FromStringAndSize((const char *)r->d + r->p, size);
        r->p += size;
        return value;
    case OP_ENUM: {
        PyObject *symbols = PyTuple_GET_ITEM(node, 1);
        if (read_long(r, &n) < 0) return NULL;
        if (n < 0 || n >= PyTuple_GET_SIZE(symbols)) return PyErr_Format(PyExc_ValueError, "enum index %lld", n);
        value = PyTuple_GET_ITEM(symbols, n);
        Py_INCREF(value);
        return value;
    }
    case OP_UNION: {
        PyObject *branches = PyTuple_GET_ITEM(node, 1);
        if (read_long(r, &n) < 0) return NULL;
        if (n < 0 || n >= PyTuple_GET_SIZE(branches))
            return PyErr_Format(PyExc_ValueError, "union index %lld", n);
        return read_value(r, PyTuple_GET_ITEM(branches, n));
    }
    case OP_ARRAY:
    case OP_MAP:
        return read_items(r, node, op == OP_MAP);
    case OP_RECORD:
        return read_record(r, node);
    }
    return PyErr_Format(PyExc_SystemError, "unknown decoding operation %ld", op);
}

typedef struct {
    PyObject_HEAD
    PyObject *program;
    vectorcallfunc vectorcall;
} Decoder;

/* decoder(data, position) -> (value, position after it), as a compiled.py decoder. */
static PyObject *Decoder_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 2 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "a decoder takes (data, position)");
        return NULL;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "a decoder reads bytes");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) return NULL;
    Reader r = {(const unsigned char *)PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]), start};
    if (start < 0 || start > r.len) return past_end(), NULL;
    PyObject *value = read_value(&r, ((Decoder *)self)->program);
    if (value == NULL) return NULL;
    PyObject *end = PyLong_FromSsize_t(r.p);
    if (end == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    PyObject *out = PyTuple_New(2);
    if (out == NULL) {
        Py_DECREF(value);
        Py_DECREF(end);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, value);
    PyTuple_SET_ITEM(out, 1, end);
    return out;
}

static PyObject *Decoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *program;
    if (!PyArg_ParseTuple(args, "O!:Decoder", &PyTuple_Type, &program)) return NULL;
    Decoder *self = (Decoder *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    Py_INCREF(program);
    self->program = program;
    self->vectorcall = Decoder_vectorcall;
    return (PyObject *)self;
}

static void Decoder_dealloc(Decoder *self) {
    Py_XDECREF(self->program);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streams.codec._native.Decoder",
    .tp_doc = "Decoder(program): (data, position) -> (value, position after it)",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = Decoder_new,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Decoder, vectorcall),
};

static struct PyModuleDef native_module = {PyModuleDef_HEAD_INIT, "_native",
                                           "Avro binary decoding in C (see streams/codec/native.py).", -1, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&DecoderType) < 0) return NULL;
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) return NULL;
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(module, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(&DecoderType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
