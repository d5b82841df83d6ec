"""Running loom under OpenMPI in tests (every MPI test uses this module).

mpirun_cmd(np, argv, ...)  the full command list of an mpirun job on this machine: allowed to run as root
                           (CI may), shared memory + TCP between ranks without UCX or cross-memory
                           attach (both fail in containers), no core binding (ranks may be more than
                           cores, and a rank's thread pool must not be pinned to one core).
two_host_netns()           a context manager: two network namespaces joined by a veth pair play two hosts
                           (10.77.0.1 and 10.77.0.2); yields a NetnsHosts whose mpirun_cmd(argv) starts
                           a job with one rank in each namespace, talking TCP over those addresses only.
                           Needs root (or passwordless sudo) and iproute2; cleans up even on failure.
Both fail with AssertionError (never skip) when mpirun or ip is missing. Under ASan every rank gets
LSAN_OPTIONS that suppress OpenMPI's own leaks (tests/lsan.supp), so only loom's leaks are reported, and
ASAN_OPTIONS without the __tls_get_addr interceptor (see asan_options).
"""
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile

TESTS = os.path.dirname(os.path.abspath(__file__))

# mpirun refuses to start as root without these.
ROOT_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
# Sanitizer settings reach every rank, including ranks started on another "host" by a launcher agent.
FORWARDED_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LOOM_SHARED")
# ob1 over the byte transfer layers we name (UCX would be picked when installed, and prints warnings
# or fails in containers); vader without single-copy (process_vm_readv needs CAP_SYS_PTRACE).
LOCAL_MCA = (("pml", "ob1"), ("btl", "self,vader,tcp"), ("btl_vader_single_copy_mechanism", "none"))


def _require(tool, package):
    path = shutil.which(tool)
    assert path, f"{tool} not found: install {package} (make setup)"
    return path


def lsan_options(base):
    """LSAN_OPTIONS for an MPI rank under ASan: OpenMPI's own leaks suppressed (tests/lsan.supp), which
    needs the slow unwinder to see their frames (OpenMPI and libc have no frame pointers)."""
    options = [o for o in (base or "").split(":") if o]
    for extra in ("suppressions=" + os.path.join(TESTS, "lsan.supp"), "fast_unwind_on_malloc=0",
                  "print_suppressions=0"):
        if extra not in options:
            options.append(extra)
    return ":".join(options)


def asan_options(base):
    """ASAN_OPTIONS for an MPI rank: intercept_tls_get_addr=0. OpenMPI dlopens components with
    thread-locals; GCC 12's runtime guesses such a block's bounds from a glibc header layout that glibc
    no longer has, and records garbage (seen: "DTLS 9 at 0x3b25-0x400004c27" with log_threads=1), which
    LeakSanitizer's exit scan then reads: "Tracer caught signal 11: addr=0x3b28". Without the
    interceptor the blocks are still scanned, reached from the thread's DTV like any heap block."""
    options = [o for o in (base or "").split(":") if o and not o.startswith("intercept_tls_get_addr=")]
    return ":".join(options + ["intercept_tls_get_addr=0"])


def mpirun_cmd(np, argv, oversubscribe=True, extra_env=None, mca=LOCAL_MCA, mpirun_args=()):
    """The command list for `mpirun -np NP ARGV...`; extra_env reaches every rank (also exported with -x)."""
    mpirun = _require("mpirun", "openmpi-bin")
    env = dict(ROOT_ENV)
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    env["LSAN_OPTIONS"] = lsan_options(os.environ.get("LSAN_OPTIONS"))
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = asan_options(env["ASAN_OPTIONS"])
    env.update(extra_env or {})
    cmd = ["env"] + [f"{k}={v}" for k, v in env.items()] + [mpirun, "-np", str(np), "--bind-to", "none"]
    if oversubscribe:
        cmd.append("--oversubscribe")
    for key, value in mca:
        cmd += ["--mca", key, value]
    for k in env:
        cmd += ["-x", k]
    return cmd + list(mpirun_args) + [str(a) for a in argv]


def _privileged():
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def _ip(*args, check=True):
    return subprocess.run(_privileged() + [_require("ip", "iproute2")] + list(args), check=check,
                          capture_output=True, text=True)


class NetnsHosts:
    """Two namespaces (ns[0], ns[1]) with addresses addrs[0], addrs[1] on veth ends veths[0], veths[1]."""

    def __init__(self, ns, veths, addrs, subnet, agent):
        self.ns, self.veths, self.addrs, self.subnet, self.agent = ns, veths, addrs, subnet, agent

    def mca(self):
        return (("pml", "ob1"), ("btl", "self,tcp"), ("btl_tcp_if_include", self.subnet),
                ("oob_tcp_if_include", self.subnet), ("plm_rsh_agent", self.agent))

    def mpirun_cmd(self, argv, extra_env=None, mpirun_args=()):
        """One rank per namespace; mpirun itself runs in the first one."""
        inner = mpirun_cmd(2, argv, oversubscribe=False, extra_env=extra_env, mca=self.mca(),
                           mpirun_args=("--host", ",".join(self.addrs)) + tuple(mpirun_args))
        return _privileged() + ["ip", "netns", "exec", self.ns[0]] + inner

    def link_bytes(self, side=0):
        """(rx_bytes, tx_bytes) counted on the veth end in namespace `side`."""
        def counter(name):
            path = f"/sys/class/net/{self.veths[side]}/statistics/{name}"
            out = subprocess.run(_privileged() + ["ip", "netns", "exec", self.ns[side], "cat", path],
                                 check=True, capture_output=True, text=True).stdout
            return int(out)
        return counter("rx_bytes"), counter("tx_bytes")


# OpenMPI's rsh launcher runs `AGENT [options] HOST COMMAND...` as it would ssh: run COMMAND in the
# namespace that owns HOST's address instead.
_AGENT = """#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done
host=$1; shift
case "$host" in
{cases}
  *) echo "netns launcher agent: unknown host $host" >&2; exit 1;;
esac
exec ip netns exec "$ns" /bin/sh -c "$*"
"""


@contextlib.contextmanager
def two_host_netns(prefix="10.77.0"):
    _require("ip", "iproute2")
    tag = f"{os.getpid() % 100000}{secrets.token_hex(2)}"
    ns = (f"loom{tag}a", f"loom{tag}b")
    veths = (f"lv{tag}a", f"lv{tag}b")  # interface names: at most 15 characters
    addrs = (f"{prefix}.1", f"{prefix}.2")
    tmp = tempfile.mkdtemp(prefix="loom-netns-")
    created = []
    try:
        for name in ns:
            _ip("netns", "add", name)
            created.append(name)
        _ip("link", "add", veths[0], "type", "veth", "peer", "name", veths[1])
        for side in (0, 1):
            _ip("link", "set", veths[side], "netns", ns[side])
            _ip("-n", ns[side], "addr", "add", f"{addrs[side]}/24", "dev", veths[side])
            _ip("-n", ns[side], "link", "set", veths[side], "up")
            _ip("-n", ns[side], "link", "set", "lo", "up")
        agent = os.path.join(tmp, "netns_rsh")
        cases = "\n".join(f"  {a}) ns={n};;" for a, n in zip(addrs, ns))
        with open(agent, "w") as f:
            f.write(_AGENT.format(cases=cases))  # run by mpirun, which is privileged already
        os.chmod(agent, 0o755)
        yield NetnsHosts(ns, veths, addrs, f"{prefix}.0/24", agent)
    finally:
        for name in created:
            # processes a failed job left behind in our namespaces (mpirun, orted, ranks)
            pids = _ip("netns", "pids", name, check=False).stdout.split()
            if pids:
                subprocess.run(_privileged() + ["kill", "-9"] + pids, capture_output=True)
            _ip("netns", "del", name, check=False)
        _ip("link", "del", veths[0], check=False)  # only still there when moving it failed
        shutil.rmtree(tmp, ignore_errors=True)
