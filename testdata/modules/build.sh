#!/usr/bin/env bash
# Rebuilds every test module under testdata/modules from its source.
#
#   valid/ invalid/ hostile/   NAME.wat -> NAME.wasm with wat2wasm (wabt); when
#                              NAME.manifest.json exists, its bytes are appended
#                              as the "phasehost.manifest" custom section by
#                              addsection.py (this wabt ignores (@custom ...)).
#   c/                         NAME.c -> NAME.wasm with clang --target=wasm32-wasi
#                              as a WASI reactor, plus its manifest the same way.
#
# The built .wasm files are committed, so tests need neither wabt nor clang.
# Needs: wat2wasm, python3, clang with wasm-ld, and a wasi-libc sysroot, found
# in $WASI_SYSROOT or a usual place (Debian's wasi-libc package installs into
# /usr/include/wasm32-wasi and /usr/lib/wasm32-wasi, i.e. sysroot /usr).
# Set SKIP_C=1 to rebuild only the WAT modules.
set -euo pipefail
cd "$(dirname "$0")"

add_manifest() { # module.wasm manifest-file
    python3 addsection.py "$1" "$2"
}

for wat in valid/*.wat invalid/*.wat hostile/*.wat; do
    base=${wat%.wat}
    wat2wasm --debug-names "$wat" -o "$base.wasm"
    if [ -f "$base.manifest.json" ]; then
        add_manifest "$base.wasm" "$base.manifest.json"
    fi
done

# The emit benchmark module (no manifest: it is compiled directly by the benchmark).
wat2wasm --debug-names bench/emit_bench.wat -o bench/emit_bench.wasm

# Special cases in invalid/ (garbage.wasm is plain text, committed as it is).
add_manifest invalid/two_manifest_sections.wasm invalid/two_manifest_sections.second.json
head -c 48 valid/ok.wasm > invalid/truncated.wasm  # cut off inside the type section

if [ "${SKIP_C:-0}" = 1 ]; then
    exit 0
fi

find_sysroot() {
    if [ -n "${WASI_SYSROOT:-}" ]; then
        echo "$WASI_SYSROOT"
        return
    fi
    local dir
    for dir in /usr /usr/share/wasi-sysroot /opt/wasi-sdk/share/wasi-sysroot; do
        if [ -f "$dir/lib/wasm32-wasi/libc.a" ]; then
            echo "$dir"
            return
        fi
    done
    echo "build.sh: no wasi-libc sysroot found; install wasi-libc or set WASI_SYSROOT" >&2
    exit 1
}
sysroot=$(find_sysroot)

# clang links compiler-rt's wasm32 builtins by default; when they are not
# installed (Debian: libclang-rt-*-dev-wasm32), link libc alone, which is
# enough for these plugins.
libs=()
builtins=$(clang --target=wasm32-wasi --sysroot="$sysroot" -print-libgcc-file-name)
if [ ! -f "$builtins" ]; then
    libs=(-nodefaultlibs -lc)
fi

for src in c/*.c; do
    base=${src%.c}
    clang --target=wasm32-wasi --sysroot="$sysroot" -mexec-model=reactor -O2 \
        -Wall -Wextra -Werror -Wl,--strip-debug -I ../../sdk/c \
        "$src" -o "$base.wasm" ${libs[@]+"${libs[@]}"}
    chmod 644 "$base.wasm"
    add_manifest "$base.wasm" "$base.manifest.json"
done
