/* Avro binary encoding and decoding in C, driven by programs that streams/codec/native.py builds
 * from a schema.
 *
 * The compiled Python functions (compiled.py) spend most of their time in the interpreter's
 * dispatch between a few byte operations per field; here the same reads and writes run as C. The
 * results are the compiled functions' (the same dict or row tuple, the same bytes), and so are the
 * errors: bytes that are not a value of the schema raise ValueError, IndexError or
 * UnicodeDecodeError (every read is bounds-checked), a record that does not fit the schema
 * TypeError, ValueError or KeyError.
 *
 * A decoding program node is a tuple whose first item is its operation:
 *   (NULL,) (BOOLEAN,) (LONG,) (FLOAT,) (DOUBLE,) (STRING,) (BYTES,) (FIXED, size)
 *   (ENUM, symbols) (UNION, branches) (ARRAY, item, least) (MAP, value, least)
 *   (RECORD, keys, fields, slots, width)
 * `least` is the fewest bytes an item takes (bounds hostile counts); a record's `slots` is None
 * for a dict, or per field its column in a row tuple of `width` (-1: read and dropped).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
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
            if (count == LLONG_MIN) { /* -count would overflow */
                PyErr_SetString(PyExc_ValueError, "block count beyond 64 bits");
                goto error;
            }
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

/* -- encoding ---------------------------------------------------------------------------------
 *
 * An encoding program node, as native.py builds it (ops as above):
 *   (NULL,) (BOOLEAN,) (LONG, is_int) (FLOAT,) (DOUBLE,) (STRING,) (BYTES,) (FIXED, size)
 *   (ENUM, {symbol: index}) (UNION, null_index, other) (ARRAY, item) (MAP, value)
 *   (RECORD, keys, fields, missing) with per field in `missing` None (required: KeyError),
 *   or a 1-tuple holding the value a missing field takes (its default, or None if nullable).
 * The bytes and the errors are compiled.py's encoders': TypeError for a value of the wrong type,
 * ValueError for one out of range, KeyError for a missing field or an unknown symbol. */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Writer;

static int grow(Writer *w, Py_ssize_t more) {
    if (w->len + more <= w->cap) return 0;
    Py_ssize_t cap = w->cap * 2;
    while (cap < w->len + more) cap *= 2;
    char *data = PyMem_Realloc(w->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    w->data = data;
    w->cap = cap;
    return 0;
}

static int put(Writer *w, const void *bytes, Py_ssize_t n) {
    if (grow(w, n) < 0) return -1;
    memcpy(w->data + w->len, bytes, n);
    w->len += n;
    return 0;
}

static int put_varint(Writer *w, unsigned long long z) {
    if (grow(w, 10) < 0) return -1;
    while (z > 0x7f) {
        w->data[w->len++] = (char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    w->data[w->len++] = (char)z;
    return 0;
}

static int put_long(Writer *w, long long v) {
    return put_varint(w, ((unsigned long long)v << 1) ^ (unsigned long long)(v >> 63));
}

static int bad(const char *what, PyObject *value) {
    PyErr_Format(PyExc_TypeError, "%R is not %s", value, what);
    return -1;
}

static int write_value(Writer *w, PyObject *node, PyObject *value);

static int write_text(Writer *w, PyObject *value, int is_string) {
    const char *data;
    Py_ssize_t n;
    if (is_string) {
        if (!PyUnicode_Check(value)) return bad("a string", value);
        data = PyUnicode_AsUTF8AndSize(value, &n);
        if (data == NULL) return -1;
        if (put_long(w, n) < 0) return -1;
        return put(w, data, n);
    }
    Py_buffer view;
    if (!(PyBytes_Check(value) || PyByteArray_Check(value) || PyMemoryView_Check(value))) return bad("bytes", value);
    if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0) return -1;
    int failed = put_long(w, view.len) < 0 || put(w, view.buf, view.len) < 0;
    PyBuffer_Release(&view);
    return failed ? -1 : 0;
}

static int write_record(Writer *w, PyObject *node, PyObject *record) {
    PyObject *keys = PyTuple_GET_ITEM(node, 1), *fields = PyTuple_GET_ITEM(node, 2);
    PyObject *missing = PyTuple_GET_ITEM(node, 3);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(fields); i++) {
        PyObject *key = PyTuple_GET_ITEM(keys, i), *value;
        if (PyDict_Check(record)) {
            value = PyDict_GetItemWithError(record, key);
            if (value == NULL && PyErr_Occurred()) return -1;
            Py_XINCREF(value);
        } else {
            value = PyObject_GetItem(record, key);
            if (value == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_KeyError)) return -1;
                PyErr_Clear();
            }
        }
        if (value == NULL) {
            PyObject *fallback = PyTuple_GET_ITEM(missing, i);
            if (fallback == Py_None) {
                PyErr_SetObject(PyExc_KeyError, key);
                return -1;
            }
            value = PyTuple_GET_ITEM(fallback, 0);
            Py_INCREF(value);
        }
        int failed = write_value(w, PyTuple_GET_ITEM(fields, i), value);
        Py_DECREF(value);
        if (failed) return -1;
    }
    return 0;
}

static int write_items(Writer *w, PyObject *node, PyObject *value, int is_map) {
    int truth = PyObject_IsTrue(value); /* as compiled.py: an empty or None collection is one 0 */
    if (truth < 0) return -1;
    if (truth) {
        PyObject *inner = PyTuple_GET_ITEM(node, 1);
        PyObject *items = is_map ? PyMapping_Items(value) : PySequence_Fast(value, "not a sequence");
        if (items == NULL) return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
        PyObject **all = PySequence_Fast_ITEMS(items);
        int failed = put_long(w, n) < 0;
        for (Py_ssize_t i = 0; !failed && i < n; i++) {
            if (is_map) {
                PyObject *pair = all[i];
                failed = !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2
                         || write_text(w, PyTuple_GET_ITEM(pair, 0), 1) < 0
                         || write_value(w, inner, PyTuple_GET_ITEM(pair, 1)) < 0;
            } else {
                failed = write_value(w, inner, all[i]) < 0;
            }
        }
        Py_DECREF(items);
        if (failed) return -1;
    }
    return put(w, "\0", 1);
}

static int write_value(Writer *w, PyObject *node, PyObject *value) {
    long op = PyLong_AsLong(PyTuple_GET_ITEM(node, 0));
    switch (op) {
    case OP_NULL:
        return value == Py_None ? 0 : bad("null", value);
    case OP_BOOLEAN:
        if (value != Py_True && value != Py_False) return bad("a boolean", value);
        return put(w, value == Py_True ? "\1" : "\0", 1);
    case OP_LONG: {
        if (!PyLong_Check(value)) {
            PyErr_Format(PyExc_TypeError, "%R is not an integer", value);
            return -1;
        }
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
        int is_int = PyObject_IsTrue(PyTuple_GET_ITEM(node, 1));
        if (overflow || (is_int && (v < -2147483648LL || v > 2147483647LL))) {
            PyErr_Format(PyExc_ValueError, "%R is out of range", value);
            return -1;
        }
        return put_long(w, v);
    }
    case OP_FLOAT:
    case OP_DOUBLE: {
        double v = PyFloat_AsDouble(value); /* what struct.pack takes: a float, or anything with __float__ */
        if (v == -1.0 && PyErr_Occurred()) return -1;
        char out[8];
        if (op == OP_FLOAT ? PyFloat_Pack4(v, out, 1) : PyFloat_Pack8(v, out, 1)) return -1;
        return put(w, out, op == OP_FLOAT ? 4 : 8);
    }
    case OP_STRING:
    case OP_BYTES:
        return write_text(w, value, op == OP_STRING);
    case OP_FIXED: {
        Py_ssize_t size = PyLong_AsSsize_t(PyTuple_GET_ITEM(node, 1));
        Py_buffer view;
        if (!(PyBytes_Check(value) || PyByteArray_Check(value) || PyMemoryView_Check(value))) return bad("bytes", value);
        if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0) return -1;
        int failed = view.len != size ? (PyErr_Format(PyExc_TypeError, "%R is not %zd bytes", value, size), -1)
                                      : put(w, view.buf, view.len);
        PyBuffer_Release(&view);
        return failed;
    }
    case OP_ENUM: {
        PyObject *index = PyDict_GetItemWithError(PyTuple_GET_ITEM(node, 1), value);
        if (index == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, value);
            return -1;
        }
        return put_long(w, PyLong_AsLongLong(index));
    }
    case OP_UNION: {
        long null_index = PyLong_AsLong(PyTuple_GET_ITEM(node, 1));
        if (value == Py_None) return put_long(w, null_index);
        if (put_long(w, 1 - null_index) < 0) return -1;
        return write_value(w, PyTuple_GET_ITEM(node, 2), value);
    }
    case OP_ARRAY:
    case OP_MAP:
        return write_items(w, node, value, op == OP_MAP);
    case OP_RECORD:
        return write_record(w, node, value);
    }
    PyErr_Format(PyExc_SystemError, "unknown encoding operation %ld", op);
    return -1;
}

typedef struct {
    PyObject_HEAD
    PyObject *program;
    PyObject *header;
    vectorcallfunc vectorcall;
} Encoder;

/* encoder(record) -> header + the record's Avro binary encoding, as a compiled.py encoder. */
static PyObject *Encoder_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "an encoder takes one record");
        return NULL;
    }
    Encoder *encoder = (Encoder *)self;
    Writer w = {PyMem_Malloc(256), 0, 256};
    if (w.data == NULL) return PyErr_NoMemory();
    PyObject *out = NULL;
    if (put(&w, PyBytes_AS_STRING(encoder->header), PyBytes_GET_SIZE(encoder->header)) == 0
        && write_value(&w, encoder->program, args[0]) == 0)
        out = PyBytes_FromStringAndSize(w.data, w.len);
    PyMem_Free(w.data);
    return out;
}

static PyObject *Encoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *program, *header;
    if (!PyArg_ParseTuple(args, "O!O!:Encoder", &PyTuple_Type, &program, &PyBytes_Type, &header)) return NULL;
    Encoder *self = (Encoder *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    Py_INCREF(program);
    Py_INCREF(header);
    self->program = program;
    self->header = header;
    self->vectorcall = Encoder_vectorcall;
    return (PyObject *)self;
}

static void Encoder_dealloc(Encoder *self) {
    Py_XDECREF(self->program);
    Py_XDECREF(self->header);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streams.codec._native.Encoder",
    .tp_doc = "Encoder(program, header): record -> header + its Avro binary encoding",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = Encoder_new,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Encoder, vectorcall),
};

static struct PyModuleDef native_module = {PyModuleDef_HEAD_INIT, "_native",
                                           "Avro binary encoding and decoding in C (see streams/codec/native.py).", -1, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&DecoderType) < 0 || PyType_Ready(&EncoderType) < 0) return NULL;
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) return NULL;
    if (PyModule_AddObjectRef(module, "Decoder", (PyObject *)&DecoderType) < 0
        || PyModule_AddObjectRef(module, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
