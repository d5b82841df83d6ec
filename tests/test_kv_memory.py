"""The KV pool is sized and touched at start (issue 14, item 2): `loom serve` holds the whole pool resident
as soon as it is ready (no creep under traffic), and a pool the machine cannot hold fails at start with a
message naming the memory, not with an OOM kill later."""
import os

from server_harness import LoomServer

MIB = 1 << 20


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_pool_is_resident_at_start(loom_bin, shared_dir):
    model = os.path.join(shared_dir, "models", "stories260K", "hf")
    srv = LoomServer(loom_bin, ["-m", model, "--kv-cache-memory", "256MiB", "--threads", "1"])
    try:
        rss = rss_bytes(srv.proc.pid)
    finally:
        srv.stop()
    assert rss >= 256 * MIB, f"resident {rss / MIB:.0f} MiB < the 256 MiB KV pool right after start"


def test_pool_too_large_fails_at_start(run_loom, shared_dir):
    model = os.path.join(shared_dir, "models", "stories260K", "hf")
    r = run_loom(["batch", "-m", model, "--kv-cache-memory", "200GiB", "--input", "/dev/null", "--output", "/dev/null"])
    assert r.returncode == 1
    assert "does not fit in the" in r.stderr and "GiB of memory available" in r.stderr, r.stderr
