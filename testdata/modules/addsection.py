#!/usr/bin/env python3
"""Append a custom section to a WebAssembly module.

    addsection.py MODULE.wasm PAYLOAD [--name NAME] [-o OUT.wasm]

Appends a custom section named NAME (default: phasehost.manifest) whose
payload is the bytes of the file PAYLOAD, copied as they are. Writes OUT.wasm,
or rewrites MODULE.wasm in place when -o is not given.

A custom section is laid out as (WebAssembly core spec, 5.5.3):

    id 0 | size (unsigned LEB128) | name length (unsigned LEB128) | name (UTF-8) | payload

where size counts the bytes of everything after it. Custom sections may appear
anywhere in a module, so appending one at the end keeps the module valid.
"""

import argparse
import sys

WASM_MAGIC = b"\0asm"
WASM_VERSION = b"\1\0\0\0"


def uleb128(n):
    """Encode a non-negative integer as unsigned LEB128."""
    if n < 0:
        raise ValueError("uleb128 of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def custom_section(name, payload):
    """Return the bytes of a custom section named name holding payload."""
    encoded_name = name.encode("utf-8")
    body = uleb128(len(encoded_name)) + encoded_name + payload
    return b"\x00" + uleb128(len(body)) + body


def main(argv):
    parser = argparse.ArgumentParser(description="Append a custom section to a wasm module.")
    parser.add_argument("module", help="the .wasm module")
    parser.add_argument("payload", help="file whose bytes become the section's payload")
    parser.add_argument("--name", default="phasehost.manifest", help="section name (default %(default)s)")
    parser.add_argument("-o", "--output", help="output file (default: rewrite the module in place)")
    args = parser.parse_args(argv)

    with open(args.module, "rb") as f:
        module = f.read()
    if module[:4] != WASM_MAGIC or module[4:8] != WASM_VERSION:
        sys.exit(f"{args.module}: not a WebAssembly 1.0 binary module")
    with open(args.payload, "rb") as f:
        payload = f.read()

    with open(args.output or args.module, "wb") as f:
        f.write(module + custom_section(args.name, payload))


if __name__ == "__main__":
    main(sys.argv[1:])
