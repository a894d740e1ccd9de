# The C text kernel's interface, cimported by _codec_c.pxd in place of _text_py.
cpdef object load_payload(bytes data, Py_ssize_t start, Py_ssize_t end)
cpdef tuple scan_text(object data, bint eager)
cpdef bytes splice(object join_ref, object ref, object topic, object event, bytes body)
