#!/usr/bin/env python3
"""Writes tests/data/tiny.safetensors with Python's json and struct only: a
second, independent writer of the format for lmfuse's reader test.

Tensors (row-major, little-endian):
  "a.weight"  F32  [2, 3]  = 0.5 * i - 1          (i = 0..5)
  "b.half"    F16  [4]     = 1.0, -2.5, 65504, 2^-24 (a subnormal)
  "c.bf16"    BF16 [2]     = 1.0, -3.0
  "d.ids"     I64  [3]     = 7, -1, 1 << 40
  "e.empty"   F32  [0, 5]  (no elements)
metadata: {"format": "pt", "lmfuse.arch": "lstm"}
The tensors are written in the order b, a, e, c, d so that the data order
differs from the JSON order.
"""
import json
import struct
import sys

tensors = {
    "a.weight": ("F32", [2, 3], struct.pack("<6f", *[0.5 * i - 1 for i in range(6)])),
    "b.half": ("F16", [4], struct.pack("<4e", 1.0, -2.5, 65504.0, 2.0 ** -24)),
    "c.bf16": ("BF16", [2], struct.pack("<2H", 0x3F80, 0xC040)),
    "d.ids": ("I64", [3], struct.pack("<3q", 7, -1, 1 << 40)),
    "e.empty": ("F32", [0, 5], b""),
}
order = ["b.half", "a.weight", "e.empty", "c.bf16", "d.ids"]
header, data = {"__metadata__": {"format": "pt", "lmfuse.arch": "lstm"}}, b""
for name in order:
    dtype, shape, raw = tensors[name]
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
js = json.dumps(header, separators=(",", ":")).encode()
js += b" " * (-len(js) % 8)
out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/tiny.safetensors"
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(js)) + js + data)
