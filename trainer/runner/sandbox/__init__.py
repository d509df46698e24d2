"""Run one untrusted child process, sealed (SPEC §4; issue 8).

The child runs under bubblewrap (`bwrap`) in new mount, PID, network, IPC and UTS
namespaces. What it sees:

- read-only binds of the Python runtime (/usr, the interpreter's prefix, the virtual
  environment) and of the `trainer` package (its entry code), at their host paths;
- /job: its job's inputs, read-only (a host folder the supervisor fills: train.py, and
  for the evaluation child the trusted copy of the checkpoint); /data: the training
  shards, read-only binds of the harness files (never links into the cache);
- /scratch: a private, size-limited tmpfs, its home and working directory; a private,
  size-limited /tmp and /dev/shm; a fresh /proc; a minimal /dev (plus, on CUDA, the
  assigned GPU's device nodes only); /etc holds only a passwd and group naming it;
- nothing else: no data dir, no keys, no database, no /run, no host sockets, no network.

Who it is: a dedicated unprivileged uid on the host (`SandboxSettings.uid`) when the
worker is root (bwrap builds the namespaces as root, then `setpriv` drops to that uid
with an empty bounding set); the worker's own uid inside a user namespace otherwise.
Either way every capability is gone, `no_new_privs` is set and a seccomp filter refuses
new namespaces, mounts, ptrace, keyrings, BPF and io_uring.

What it may spend: memory and processes through a cgroup where one is writable (plus
RLIMIT_AS on CPU, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE, no core dumps), CPU through
a cgroup quota, disk through the tmpfs sizes (which are memory, so the memory bound
covers them too). When bwrap's monitor dies, the sandbox's PID 1 dies and with it every
descendant; the tmpfs mounts vanish with the last reference.

What comes out: stdout/stderr (captured, capped), the metrics channel, and files the
trusted side copies out of /scratch with `copy_out` (opened without following links,
regular files only, size-capped).

`SandboxSettings(mode="none")` is the operator's explicit unsafe mode: the child runs
as a plain subprocess with the same file layout under a host folder, and every result
says

The pieces: spec.py (paths, settings, limits), seccomp.py (the BPF filter), cgroups.py,
bwrap.py (the command line and the host probe), env.py, child.py (`Sandboxed`).
"""

from trainer.runner.sandbox.bwrap import (
    HOW_TO_GRANT,
    BwrapCommand,
    child_uid,
    find_bwrap,
    gpu_device_nodes,
    gpu_minor,
    require_sandbox,
    runtime_paths,
    sandbox_problem,
)
from trainer.runner.sandbox.cgroups import Cgroup
from trainer.runner.sandbox.child import (
    ChildCommand,
    CopyRefused,
    Sandboxed,
    children_of,
    descendants,
)
from trainer.runner.sandbox.env import ALLOCATOR_ENV, scrubbed_env, visible_device
from trainer.runner.sandbox.seccomp import seccomp_filter
from trainer.runner.sandbox.spec import (
    BWRAP,
    DATA,
    EXCHANGE,
    JOB,
    NONE,
    SCRATCH,
    Limits,
    Mounts,
    SandboxReport,
    SandboxSettings,
    SandboxUnavailable,
)

__all__ = [
    "ALLOCATOR_ENV",
    "BWRAP",
    "DATA",
    "EXCHANGE",
    "HOW_TO_GRANT",
    "JOB",
    "NONE",
    "SCRATCH",
    "BwrapCommand",
    "Cgroup",
    "ChildCommand",
    "CopyRefused",
    "Limits",
    "Mounts",
    "SandboxReport",
    "SandboxSettings",
    "SandboxUnavailable",
    "Sandboxed",
    "child_uid",
    "children_of",
    "descendants",
    "find_bwrap",
    "gpu_device_nodes",
    "gpu_minor",
    "require_sandbox",
    "runtime_paths",
    "sandbox_problem",
    "scrubbed_env",
    "seccomp_filter",
    "visible_device",
]
