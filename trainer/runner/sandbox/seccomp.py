"""The seccomp filter of every sandboxed child, assembled as classic BPF: it refuses new
namespaces, mounts, ptrace, keyrings, BPF and io_uring (EPERM), per machine architecture.
"""

from __future__ import annotations

import errno
import os
import struct
from functools import cache

# (AUDIT_ARCH, syscalls refused with EPERM, clone, clone3, unshare) per machine
_ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        dict(
            clone=56,
            clone3=435,
            unshare=272,
            setns=308,
            mount=165,
            umount2=166,
            pivot_root=155,
            chroot=161,
            ptrace=101,
            process_vm_readv=310,
            process_vm_writev=311,
            keyctl=250,
            add_key=248,
            request_key=249,
            bpf=321,
            perf_event_open=298,
            userfaultfd=323,
            kexec_load=246,
            kexec_file_load=320,
            init_module=175,
            finit_module=313,
            delete_module=176,
            open_by_handle_at=304,
            name_to_handle_at=303,
            io_uring_setup=425,
            io_uring_enter=426,
            io_uring_register=427,
            fsopen=430,
            fsmount=432,
            move_mount=429,
            open_tree=428,
        ),
    ),  # fmt: skip
    "aarch64": (
        0xC00000B7,
        dict(
            clone=220,
            clone3=435,
            unshare=97,
            setns=268,
            mount=40,
            umount2=39,
            pivot_root=41,
            chroot=51,
            ptrace=117,
            process_vm_readv=270,
            process_vm_writev=271,
            keyctl=219,
            add_key=217,
            request_key=218,
            bpf=280,
            perf_event_open=241,
            userfaultfd=282,
            kexec_load=104,
            kexec_file_load=294,
            init_module=105,
            finit_module=273,
            delete_module=106,
            open_by_handle_at=265,
            name_to_handle_at=264,
            io_uring_setup=425,
            io_uring_enter=426,
            io_uring_register=427,
            fsopen=430,
            fsmount=432,
            move_mount=429,
            open_tree=428,
        ),
    ),  # fmt: skip
}
_CLONE_NEW_FLAGS = 0x7E020080  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME


@cache
def seccomp_filter() -> bytes | None:
    """A classic BPF program (struct sock_filter[]) for `bwrap --seccomp`: refuse new
    namespaces (clone with CLONE_NEW*, unshare, setns; clone3 reads ENOSYS so libc falls
    back to clone), mounts, ptrace and cross-process memory access, keyrings, BPF,
    perf, userfaultfd, io_uring, module and kexec calls. None on an unknown machine."""
    arch = _ARCHES.get(os.uname().machine)
    if arch is None:
        return None
    audit_arch, numbers = arch
    ld, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    refused = [n for name, n in numbers.items() if name not in ("clone", "clone3")]
    # layout: [0] ld arch, [1] jeq, [2] ld nr, [3] x32 check, refused..., clone3, clone,
    # allow, clone-check (ld arg0, jset, allow), ret eperm, ret enosys, ret kill
    prog: list[tuple[int, int, int, int]] = []
    n_refused = len(refused)
    base = 4  # index of the first refused-syscall test
    clone3_at = base + n_refused
    clone_at = clone3_at + 1
    allow_at = clone_at + 1
    check_at = allow_at + 1  # ld arg0; jset; ret allow
    eperm_at = check_at + 3
    enosys_at = eperm_at + 1
    kill_at = enosys_at + 1

    def jump(at: int, target: int) -> int:
        return target - at - 1

    prog.append((ld, 0, 0, 4))
    prog.append((jeq, 0, jump(1, kill_at), audit_arch))
    prog.append((ld, 0, 0, 0))
    prog.append((jge, jump(3, eperm_at), 0, 0x40000000))  # the x32 ABI: refused wholesale
    for i, number in enumerate(refused):
        at = base + i
        prog.append((jeq, jump(at, eperm_at), 0, number))
    prog.append((jeq, jump(clone3_at, enosys_at), 0, numbers["clone3"]))
    prog.append((jeq, jump(clone_at, check_at), 0, numbers["clone"]))
    prog.append((ret, 0, 0, allow))
    prog.append((ld, 0, 0, 16))  # clone's flags: args[0], low 32 bits
    prog.append((jset, jump(check_at + 1, eperm_at), 0, _CLONE_NEW_FLAGS))
    prog.append((ret, 0, 0, allow))
    prog.append((ret, 0, 0, eperm))
    prog.append((ret, 0, 0, enosys))
    prog.append((ret, 0, 0, kill))
    return b"".join(struct.pack("<HBBI", *insn) for insn in prog)
