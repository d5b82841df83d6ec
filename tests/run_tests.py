#!/usr/bin/env python3
"""Runs every test of loom and prints one closing line: "N passed, N failed".

C tests: each build/tests/test_* binary prints PASS/FAIL lines and "N passed, N failed".
Python tests: tests/test_*.py under pytest, with LOOM_BIN pointing at the loom binary of the build.
Exit status is non-zero when anything failed or a runner broke."""
import argparse
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed", re.M)


def run_c_tests(build, only):
    passed = failed = 0
    tdir = os.path.join(ROOT, build, "tests")
    for name in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        if not name.startswith("test_") or (only and not any(o in name for o in only)):
            continue
        path = os.path.join(tdir, name)
        print(f"== {name}", flush=True)
        proc = subprocess.run([path], cwd=ROOT, capture_output=True, text=True, errors="replace", timeout=1800)
        sys.stdout.write(proc.stdout)
        sys.stdout.write(proc.stderr)
        m = SUMMARY.findall(proc.stdout)
        if not m:
            print(f"FAIL {name}: no summary line (exit {proc.returncode})")
            failed += 1
            continue
        p, f = map(int, m[-1])
        if proc.returncode != 0 and f == 0:
            print(f"FAIL {name}: exit status {proc.returncode}")
            f = 1
        passed += p
        failed += f
    return passed, failed


def run_py_tests(build, only):
    files = sorted(f for f in os.listdir(os.path.join(ROOT, "tests"))
                   if f.startswith("test_") and f.endswith(".py"))
    if only:
        files = [f for f in files if any(o in f for o in only)]
    if not files:
        return 0, 0
    env = dict(os.environ)
    env["LOOM_BIN"] = os.path.join(ROOT, build, "loom")
    env["LOOM_BUILD"] = os.path.join(ROOT, build)
    xml = os.path.join(ROOT, build, "pytest-results.xml")
    if os.path.exists(xml):
        os.remove(xml)
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider",
           f"--junitxml={xml}"] + [os.path.join("tests", f) for f in files]
    print("== pytest " + " ".join(files), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if not os.path.exists(xml):
        print(f"FAIL pytest: no results (exit {proc.returncode})")
        return 0, 1
    passed = failed = 0
    for case in ET.parse(xml).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        if "failure" in kinds or "error" in kinds:
            failed += 1
        elif "skipped" in kinds:
            # a skipped test is not a pass: report it as a failure so nothing hides behind a skip
            print(f"FAIL {case.get('classname')}::{case.get('name')}: skipped")
            failed += 1
        else:
            passed += 1
    if proc.returncode not in (0, 1):
        failed += 1
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("only", nargs="*", help="substrings of test names to run")
    args = ap.parse_args()
    # Every process started below (MPI ranks too) ignores OpenMPI's deliberate leaks: tests/lsan.supp.
    suppressions = "suppressions=" + os.path.join(ROOT, "tests", "lsan.supp")
    if suppressions not in os.environ.get("LSAN_OPTIONS", ""):
        os.environ["LSAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("LSAN_OPTIONS"), suppressions]))
    cp, cf = run_c_tests(args.build, args.only)
    pp, pf = run_py_tests(args.build, args.only)
    passed, failed = cp + pp, cf + pf
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or passed == 0 else 0)


if __name__ == "__main__":
    main()
