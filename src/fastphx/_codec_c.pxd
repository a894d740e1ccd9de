# Augments _codec_py.py when Cython compiles it as fastphx._codec_c (aiohttp's
# _websocket/reader_c.pxd pattern): C types for the classes and hot locals, and the C text
# kernel cimported in place of the Python one (`from ._text_py import ...` in the source).

from fastphx._text cimport load_payload, scan_text, splice

cdef object _dumps
cdef object _tuple_new
cdef object _JSONDecodeError
cdef str _PHX_REPLY
cdef frozenset _CONTROL_EVENTS
cdef dict _KIND_FIELDS


cdef class Frame:
    cdef object _join_ref
    cdef object _ref
    cdef object _topic
    cdef object _event
    cdef bytes _data
    cdef Py_ssize_t _start
    cdef Py_ssize_t _end
    cdef bint _binary
    cdef object _payload


cdef Frame _fill(Frame f, object join_ref, object ref, object topic, object event, bytes data,
                 Py_ssize_t start, Py_ssize_t end, object payload, bint binary)


cdef class Router:
    cdef dict _channels
    cdef readonly Py_ssize_t frames
    cdef readonly Py_ssize_t nbytes

    cpdef object route(self, Frame frame, object data)


cdef class RefTable:
    cdef dict _waiters
    cdef object _next
