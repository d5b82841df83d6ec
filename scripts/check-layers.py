#!/usr/bin/env python3
"""The dependency rule between src/ folders (README, "Architecture"): a file may include headers of its own
folder and of folders on a LOWER layer only. Server and CLI speak the public API (include/loom.h) plus the
request schema they share (src/api/); the CPU kernels (src/kernels/cpu/) are reached through the backend
interface (src/kernels/backend.h) from everywhere outside src/kernels/.

Prints every include that breaks the rule as FILE:LINE: the include, why; exits 1 when there is one."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# lower number = lower layer; a folder may include its own layer's folder and lower layers
LAYERS = {
    "core": 0,
    "formats": 1, "kernels": 1, "template": 1,
    "tokenizer": 2, "kv": 2, "parallel": 2, "sample": 2,
    "model": 3, "grammar": 3, "sched": 3,
    "engine": 4,
    "api": 5,
    "server": 6,
    "cli": 7,
}
# the front ends use the library only through loom.h (and the shared request schema)
FRONT_ENDS = {"server": {"server", "api"}, "cli": {"cli", "api", "server"}}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def violations():
    src = os.path.join(ROOT, "src")
    for dirpath, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".c", ".h", ".inc")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            folder = rel.split(os.sep)[0]
            if folder not in LAYERS:
                yield f"src/{rel}:1: folder '{folder}' has no layer in scripts/check-layers.py"
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m or "/" not in m.group(1):
                        continue  # loom.h, or a same-folder include without a path
                    target = m.group(1).split("/")[0]
                    where = f"src/{rel}:{lineno}: #include \"{m.group(1)}\""
                    if target not in LAYERS:
                        continue  # a generated file (build/gen) or a system path
                    if folder in FRONT_ENDS and target not in FRONT_ENDS[folder]:
                        yield f"{where}: {folder}/ speaks only loom.h (and {', '.join(sorted(FRONT_ENDS[folder] - {folder}))})"
                    elif LAYERS[target] > LAYERS[folder]:
                        yield f"{where}: {folder}/ (layer {LAYERS[folder]}) may not include {target}/ (layer {LAYERS[target]})"
                    elif m.group(1).startswith("kernels/cpu/") and folder != "kernels":
                        yield f"{where}: outside kernels/, use the backend interface (kernels/backend.h)"


def main():
    bad = list(violations())
    for v in bad:
        print(v)
    print(f"check-layers: {len(bad)} include(s) break the dependency rule" if bad else "check-layers: ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
