/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), for the default partitioner:
 * every output record's key is hashed once, and in Python the hash cost more than the rest of the
 * record's way to the broker. Optional: streams/engine/producer.py falls back to its Python port,
 * which the tests check this against. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static uint32_t murmur2(const unsigned char *data, Py_ssize_t length) {
    const uint32_t m = 0x5bd1e995u;
    const int r = 24;
    uint32_t h = 0x9747b28cu ^ (uint32_t)length;
    Py_ssize_t words = length / 4;
    for (Py_ssize_t i = 0; i < words; i++) {
        uint32_t k;
        memcpy(&k, data + 4 * i, 4); /* little-endian, as Kafka reads it */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        k = __builtin_bswap32(k);
#endif
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const unsigned char *tail = data + 4 * words;
    switch (length & 3) {
    case 3: h ^= (uint32_t)tail[2] << 16; /* fall through */
    case 2: h ^= (uint32_t)tail[1] << 8;  /* fall through */
    case 1: h ^= tail[0]; h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

static PyObject *py_murmur2(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    uint32_t h = murmur2((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(h);
}

static PyMethodDef methods[] = {
    {"murmur2", py_murmur2, METH_O, "murmur2(data: bytes) -> int: Kafka's murmur2 of the bytes, unsigned 32-bit."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef partition_module = {PyModuleDef_HEAD_INIT, "_partition",
                                              "Kafka's murmur2 key hash in C (see streams/engine/producer.py).", -1, methods};

PyMODINIT_FUNC PyInit__partition(void) { return PyModule_Create(&partition_module); }
