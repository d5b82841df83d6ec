"""A minimal GGUF tensor-table reader for the quantization tests: PyPI gguf's reader refuses files holding a
ggml type it does not know (Q2_0, id 42), so the tensor infos are read here and the raw blocks handed to
gguf's dequantizers (or, for the types gguf lacks, to tests/test_quant_types.py's own numpy versions)."""
import struct

import numpy as np

# fixed-size GGUF value types: id -> bytes
_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9


def _skip_value(buf, pos, vtype):
    if vtype in _SCALAR:
        return pos + _SCALAR[vtype]
    if vtype == STRING:
        (n,) = struct.unpack_from("<Q", buf, pos)
        return pos + 8 + n
    if vtype == ARRAY:
        etype, n = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        if etype in _SCALAR:
            return pos + n * _SCALAR[etype]
        for _ in range(n):
            pos = _skip_value(buf, pos, etype)
        return pos
    raise ValueError(f"unknown GGUF value type {vtype}")


def tensors(path, block_sizes):
    """{name: (ggml type id, shape outermost first, raw bytes)}; block_sizes: type id -> (elems, bytes)."""
    buf = open(path, "rb").read()
    magic, _version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
    assert magic == b"GGUF", path
    pos, alignment = 24, 32
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", buf, pos)
        key = buf[pos + 8:pos + 8 + klen].decode()
        pos += 8 + klen
        (vtype,) = struct.unpack_from("<I", buf, pos)
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", buf, pos + 4)
        pos = _skip_value(buf, pos + 4, vtype)
    infos = []
    for _ in range(n_tensors):
        (nlen,) = struct.unpack_from("<Q", buf, pos)
        name = buf[pos + 8:pos + 8 + nlen].decode()
        pos += 8 + nlen
        (n_dims,) = struct.unpack_from("<I", buf, pos)
        ne = struct.unpack_from(f"<{n_dims}Q", buf, pos + 4)
        ttype, offset = struct.unpack_from("<IQ", buf, pos + 4 + 8 * n_dims)
        pos += 4 + 8 * n_dims + 12
        infos.append((name, ttype, tuple(reversed(ne)), offset))
    data = (pos + alignment - 1) // alignment * alignment
    out = {}
    for name, ttype, shape, offset in infos:
        elems, nbytes = block_sizes[ttype]
        size = int(np.prod(shape)) // elems * nbytes
        out[name] = (ttype, shape, buf[data + offset:data + offset + size])
    return out
