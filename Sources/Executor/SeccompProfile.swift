/// The default seccomp filter of OCI containers: an allow-list of system calls, everything else
/// failing with EPERM.
///
/// It exists because capabilities alone leave the kernel's attack surface wide open to a
/// container's root: creating user namespaces (`unshare -U -r`, then the capabilities of the new
/// namespace), keyrings, BPF programs, ptrace of other processes, kernel modules, mounting. Written
/// from the x86_64/aarch64 system call tables in the spirit of Docker's default profile: what
/// ordinary programs use is allowed; calls that reach across the container's boundary are
/// allowed only when the capability that governs them was added (`--cap-add SYS_ADMIN` …).
/// `clone` is allowed without namespace flags; `clone3`, whose flags sit in memory a filter
/// cannot read, fails with ENOSYS so the C library falls back to `clone`.
enum SeccompProfile {
    /// Allowed for every container.
    static let allowed: [String] = [
        // Files and descriptors.
        "read", "write", "open", "openat", "openat2", "close", "close_range", "creat", "lseek", "_llseek", "pread64", "pwrite64",
        "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2", "dup", "dup2", "dup3", "fcntl", "fcntl64", "flock",
        "fsync", "fdatasync", "syncfs", "sync", "sync_file_range", "truncate", "truncate64", "ftruncate", "ftruncate64",
        "fallocate", "fadvise64", "fadvise64_64", "readahead", "sendfile", "sendfile64", "splice", "tee", "vmsplice",
        "copy_file_range", "pipe", "pipe2", "ioctl", "stat", "stat64", "fstat", "fstat64", "lstat", "lstat64", "newfstatat",
        "fstatat64", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "ustat", "access", "faccessat", "faccessat2",
        "getdents", "getdents64", "getcwd", "chdir", "fchdir", "chroot", "rename", "renameat", "renameat2", "mkdir", "mkdirat",
        "rmdir", "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod",
        "fchmodat", "fchmodat2", "chown", "chown32", "fchown", "fchown32", "lchown", "lchown32", "fchownat", "umask", "mknod",
        "mknodat", "utime", "utimes", "futimesat", "utimensat", "utimensat_time64", "setxattr", "lsetxattr", "fsetxattr",
        "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
        "fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "memfd_create",
        "name_to_handle_at",
        // Polling, events, timers.
        "select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64", "epoll_create",
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
        "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_settime64", "timerfd_gettime", "timerfd_gettime64",
        "io_setup", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_submit", "io_cancel",
        // Memory.
        "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "msync", "mincore", "madvise", "mlock", "mlock2", "munlock",
        "mlockall", "munlockall", "remap_file_pages", "membarrier", "pkey_mprotect", "pkey_alloc", "pkey_free",
        "get_mempolicy", "set_mempolicy", "mbind", "set_mempolicy_home_node", "cachestat", "map_shadow_stack", "mseal",
        // Processes, threads, signals.
        "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid", "kill", "tkill", "tgkill",
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigtimedwait_time64",
        "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "sigaction", "sigprocmask", "sigreturn",
        "sigsuspend", "signal", "pause", "restart_syscall", "futex", "futex_time64", "futex_waitv", "futex_wake",
        "futex_wait", "futex_requeue", "set_robust_list", "get_robust_list", "set_tid_address", "set_thread_area",
        "get_thread_area", "arch_prctl", "prctl", "rseq", "seccomp", "capget", "capset", "pidfd_open", "pidfd_send_signal",
        "sched_yield", "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
        "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "sched_rr_get_interval_time64",
        "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr", "getpriority", "setpriority",
        "ioprio_get", "ioprio_set", "getcpu",
        // Identity and limits.
        "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "getuid", "getuid32", "geteuid",
        "geteuid32", "getgid", "getgid32", "getegid", "getegid32", "setuid", "setuid32", "setgid", "setgid32", "setreuid",
        "setreuid32", "setregid", "setregid32", "setresuid", "setresuid32", "getresuid", "getresuid32", "setresgid",
        "setresgid32", "getresgid", "getresgid32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "getgroups",
        "getgroups32", "setgroups", "setgroups32", "getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getrusage", "times",
        "uname", "sethostname", "setdomainname", "sysinfo", "getrandom",
        // Time (reading it; setting it needs SYS_TIME).
        "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64", "clock_nanosleep",
        "clock_nanosleep_time64", "nanosleep", "alarm", "getitimer", "setitimer", "timer_create", "timer_settime",
        "timer_settime64", "timer_gettime", "timer_gettime64", "timer_getoverrun", "timer_delete",
        // Sockets.
        "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "sendto",
        "send", "recvfrom", "recv", "sendmsg", "sendmmsg", "recvmsg", "recvmmsg", "recvmmsg_time64", "shutdown",
        "setsockopt", "getsockopt", "socketcall",
        // System V and POSIX IPC (the container's own IPC namespace).
        "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semtimedop_time64", "semctl", "msgget",
        "msgsnd", "msgrcv", "msgctl", "ipc", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64",
        "mq_timedreceive", "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
        // Self-sandboxing.
        "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    ]

    /// Calls allowed only with the capability (without `CAP_`) that governs them.
    static let allowedWithCapability: [String: [String]] = [
        "SYS_ADMIN": ["mount", "umount", "umount2", "unshare", "setns", "pivot_root", "quotactl", "quotactl_fd", "fanotify_init",
                      "open_by_handle_at", "lookup_dcookie", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
                      "mount_setattr", "syslog", "bpf", "perf_event_open"],
        "SYS_PTRACE": ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise"],
        "SYS_MODULE": ["init_module", "finit_module", "delete_module"],
        "SYS_BOOT": ["reboot", "kexec_load", "kexec_file_load"],
        "SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex", "clock_adjtime", "clock_adjtime64"],
        "SYS_PACCT": ["acct"],
        "SYS_RAWIO": ["iopl", "ioperm"],
        "SYS_NICE": ["move_pages", "migrate_pages"],
        "SYS_TTY_CONFIG": ["vhangup"],
        "SYSLOG": ["syslog"],
        "BPF": ["bpf"],
        "PERFMON": ["perf_event_open"],
    ]

    /// CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: clone(2) with any of
    /// these would create a namespace.
    static let namespaceCloneFlags: UInt64 = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000
        | 0x2000_0000 | 0x4000_0000

    /// The personalities a program may switch to: Linux, with the 32-bit address limit, with
    /// 32-bit time, and the query (0xffffffff). Not ADDR_NO_RANDOMIZE, which weakens ASLR.
    static let allowedPersonalities: [UInt64] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]

    static let EPERM: UInt32 = 1
    static let ENOSYS: UInt32 = 38

    /// The profile for a container with `capabilities` (`CAP_` names, after add/drop).
    static func make(capabilities: [String]) -> OCIConfig.Seccomp {
        var names = allowed
        let held = Set(capabilities.map { $0.hasPrefix("CAP_") ? String($0.dropFirst(4)) : $0 })
        for (capability, calls) in allowedWithCapability.sorted(by: { $0.key < $1.key }) where held.contains(capability) {
            names += calls.filter { !names.contains($0) }
        }
        var rules = [OCIConfig.SyscallRule(names: names, action: "SCMP_ACT_ALLOW")]
        if held.contains("SYS_ADMIN") {
            rules.append(OCIConfig.SyscallRule(names: ["clone"], action: "SCMP_ACT_ALLOW"))
        } else {
            rules.append(OCIConfig.SyscallRule(names: ["clone"], action: "SCMP_ACT_ALLOW", args: [
                OCIConfig.SyscallArgument(index: cloneFlagsIndex, value: namespaceCloneFlags, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ"),
            ]))
        }
        rules.append(OCIConfig.SyscallRule(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS))
        for personality in allowedPersonalities {
            rules.append(OCIConfig.SyscallRule(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [
                OCIConfig.SyscallArgument(index: 0, value: personality, valueTwo: 0, op: "SCMP_CMP_EQ"),
            ]))
        }
        return OCIConfig.Seccomp(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: EPERM, architectures: architectures,
                                 syscalls: rules)
    }

    /// clone's flags are its first argument everywhere but s390x, which this does not target.
    static let cloneFlagsIndex: UInt = 0

    /// The native architecture and the compatibility ones its kernel runs.
    static var architectures: [String] {
        #if arch(x86_64)
        return ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        #elseif arch(arm64)
        return ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
        #else
        return []
        #endif
    }
}
