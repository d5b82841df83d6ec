"""Shared pytest helpers for loom's Python tests (tests/test_*.py, run by tests/run_tests.py).

Fixtures:
  loom_bin    path of the loom binary: $LOOM_BIN (run_tests.py sets it), default build/loom. Fails (not
              skips) when it does not exist, so a missing binary is never a silent pass.
  shared_dir  ../shared relative to the project root (test assets); FAILS when missing.
  run_loom    run_loom(args, timeout=60) -> CompletedProcess (text mode, captured output).
  c_tool      c_tool("tool_NAME") -> path of tests/tool_NAME.c built against $LOOM_BUILD/libloom.a
              (sanitized like that build); fails when it does not build.
tests/reference/ (the NumPy reference and the fixture writers) is put on sys.path.
"""
import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
sys.path.insert(0, os.path.join(TESTS, "reference"))


@pytest.fixture(scope="session")
def shared_dir():
    d = os.path.normpath(os.path.join(ROOT, "..", "shared"))
    if not os.path.isdir(os.path.join(d, "models")):
        pytest.fail(f"shared test assets missing: {d} (expected ../shared beside the project root)")
    return d


@pytest.fixture(scope="session")
def loom_bin():
    b = os.environ.get("LOOM_BIN") or os.path.join(ROOT, "build", "loom")
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.fail(f"loom binary not found or not executable: {b} (set LOOM_BIN or run `make`)")
    return b


@pytest.fixture(scope="session")
def run_loom(loom_bin):
    def run(args, timeout=60):
        return subprocess.run([loom_bin] + [str(a) for a in args], capture_output=True, text=True,
                              errors="replace", timeout=timeout, cwd=ROOT)
    return run


@pytest.fixture(scope="session")
def c_tool(tmp_path_factory):
    def build(name):
        build_dir = os.environ.get("LOOM_BUILD") or os.path.join(ROOT, "build")
        lib = os.path.join(build_dir, "libloom.a")
        if not os.path.isfile(lib):
            pytest.fail(f"{lib} missing: run `make tests` first")
        out = str(tmp_path_factory.mktemp(name) / name)
        cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-g", "-pthread", "-Iinclude", "-Isrc", "-Itests"]
        if "asan" in os.path.basename(os.path.normpath(build_dir)):
            cmd += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        cmd += ["-o", out, f"tests/{name}.c", lib, "-ljansson", "-lpcre2-8", "-lutf8proc", "-lpthread", "-lm"]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode:
            pytest.fail(f"cannot build tests/{name}.c:\n" + proc.stderr)
        return out
    return build
