"""recur.safetensors - a tiny safetensors reader and writer (stdlib json + struct, numpy).

The `safetensors` package is not available everywhere recur is built, so the
tools and the recur module share this one instead (tools/st.py re-exports it). It follows the reference implementation's
layout (huggingface/safetensors, see /work/shared/research/interop.md 1.1-1.4):

    u64 N (little-endian)  |  N bytes of JSON header  |  tensor data

  * the header is compact JSON: "__metadata__" (a string -> string map)
    first, then one entry per tensor {"dtype","shape","data_offsets"} in data
    order, padded with spaces to a multiple of 8 bytes;
  * tensors are laid out contiguously, sorted by dtype alignment descending
    (the reference enum order), ties by name, so each one starts at a
    multiple of its element size;
  * data is little-endian, C order.

Public functions:
    read(path)                      -> (tensors: dict name -> numpy array, metadata: dict)
    write(path, tensors, metadata)  -> None
    serialize(tensors, metadata)    -> bytes
    parse(data)                     -> (tensors, metadata)
"""

import json
import os
import struct

import numpy as np

# dtype name -> numpy dtype (little-endian), for the dtypes the tools use.
_NP = {
    "BOOL": np.dtype("bool"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}

# The reference's enum order ("alignment order"); the writer sorts by the
# position in this list, descending. Only the names above can be written.
_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
          "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
          "I32", "U32", "F32", "C64", "F64", "I64", "U64"]

_MAX_HEADER = 100_000_000  # the reference's cap on N


class FormatError(ValueError):
    """A file that is not valid safetensors (or uses a dtype we do not read)."""


def _dtype_name(arr):
    """The safetensors dtype name of a numpy array."""
    for name, dt in _NP.items():
        if arr.dtype == dt or arr.dtype == dt.newbyteorder("="):
            return name
    raise ValueError("unsupported numpy dtype %s" % arr.dtype)


def serialize(tensors, metadata=None):
    """Returns the bytes of a safetensors file holding `tensors` (a dict of
    name -> numpy array) and `metadata` (a dict of str -> str, or None)."""
    items = []
    for name, arr in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError("bad tensor name %r" % (name,))
        arr = np.asarray(arr)
        dt = _dtype_name(arr)
        # Little-endian, C order, contiguous.
        data = np.ascontiguousarray(arr, dtype=_NP[dt]).tobytes()
        items.append((dt, name, list(arr.shape), data))
    # Alignment descending, then name ascending (byte-wise, as Rust compares).
    items.sort(key=lambda it: (-_ORDER.index(it[0]), it[1].encode("utf-8")))

    header = {}
    if metadata is not None:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError("metadata must map strings to strings: %r -> %r" % (k, v))
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    off = 0
    for dt, name, shape, data in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > _MAX_HEADER:
        raise ValueError("header of %d bytes is too large" % len(text))
    return struct.pack("<Q", len(text)) + text + b"".join(it[3] for it in items)


def write(path, tensors, metadata=None):
    """Writes a safetensors file atomically (temp file in the same directory,
    then rename)."""
    blob = serialize(tensors, metadata)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def parse(data):
    """Parses the bytes of a safetensors file; returns (tensors, metadata).
    Checks the same structure as the reference reader: header size, JSON,
    contiguous offsets that cover the whole buffer, sizes that match shapes."""
    if len(data) < 8:
        raise FormatError("file too small (%d bytes) for a safetensors header" % len(data))
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > _MAX_HEADER or n > len(data) - 8:
        raise FormatError("header length %d does not fit the file (%d bytes)" % (n, len(data)))
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError("header is not UTF-8 JSON: %s" % e)
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError("__metadata__ must map strings to strings")
    buf = memoryview(data)[8 + n:]
    entries = []
    for name, info in header.items():
        try:
            dt, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise FormatError("tensor %r: malformed entry %r" % (name, info))
        if dt not in _NP:
            raise FormatError("tensor %r: dtype %r is not supported by st.py" % (name, dt))
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FormatError("tensor %r: bad shape %r" % (name, shape))
        entries.append((begin, end, name, dt, shape))
    entries.sort()
    tensors = {}
    pos = 0
    for begin, end, name, dt, shape in entries:
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if begin != pos or end - begin != count * _NP[dt].itemsize:
            raise FormatError("tensor %r: data_offsets [%d, %d] are wrong" % (name, begin, end))
        # Copy, so the arrays are aligned, writable and outlive `data`.
        tensors[name] = np.frombuffer(buf[begin:end], dtype=_NP[dt]).reshape(shape).copy()
        pos = end
    if pos != len(buf):
        raise FormatError("data buffer is %d bytes but the tensors cover %d" % (len(buf), pos))
    return tensors, dict(metadata)


def read(path):
    """Reads a safetensors file; returns (tensors, metadata)."""
    with open(path, "rb") as f:
        return parse(f.read())

