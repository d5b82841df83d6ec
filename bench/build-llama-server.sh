#!/usr/bin/env bash
# Builds llama.cpp's llama-server for bench/serve_compare.py on a fresh machine, as bench/compare-llamacpp.sh
# builds llama-bench: from the llama.cpp source vendored in PyPI's llama-cpp-python sdist, with cmake, into
# build-bench/llama.cpp (nothing of it is committed), at nice 19 with 2 jobs (the machine is shared).
# Skips the build when the binary is there. The last line printed is the path of llama-server.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BB="$ROOT/build-bench"
BIN="$BB/llama.cpp/bin/llama-server"
if [ ! -x "$BIN" ]; then
    mkdir -p "$BB/src"
    ls "$BB"/src/llama_cpp_python-*.tar.gz > /dev/null 2>&1 ||
        pip download --no-binary :all: --no-deps llama-cpp-python -d "$BB/src" >&2
    tar xzf "$(ls "$BB"/src/llama_cpp_python-*.tar.gz | tail -1)" -C "$BB/src"
    SRC="$(ls -d "$BB"/src/llama_cpp_python-*/vendor/llama.cpp | tail -1)"
    cmake -S "$SRC" -B "$BB/llama.cpp" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON >&2
    nice -n 19 cmake --build "$BB/llama.cpp" --target llama-server -j 2 >&2
fi
echo "$BIN"
