// swarmctl-init: the init process of a task started with --init (Docker's docker-init/tini role).
//
// The OCI executor bind-mounts this static binary into the container at /sbin/docker-init and
// runs `docker-init -- COMMAND ARG...` as PID 1. It exists because a program that is not written
// to be PID 1 misbehaves there: the kernel ignores signals it has no handler for (so `docker
// service update` waits out the grace period and SIGKILLs it), and orphaned grandchildren become
// zombies nobody reaps. This init runs the command as its only child, forwards every catchable
// signal to it, reaps every process that ends up as its child, and exits the way the command did
// (its exit code, or 128 + the signal that killed it).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

int main(int argc, char **argv) {
    int first = (argc > 1 && strcmp(argv[1], "--") == 0) ? 2 : 1;
    if (first >= argc) {
        fprintf(stderr, "swarmctl-init: usage: swarmctl-init [--] COMMAND [ARG...]\n");
        return 2;
    }
    // Every signal is taken with sigwaitinfo below rather than by handlers; the child gets the
    // mask it would have had.
    sigset_t all, original;
    sigfillset(&all);
    if (sigprocmask(SIG_BLOCK, &all, &original) != 0) {
        perror("swarmctl-init: sigprocmask");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("swarmctl-init: fork");
        return 1;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &original, NULL);
        execvp(argv[first], argv + first);
        int error = errno;
        fprintf(stderr, "swarmctl-init: cannot run %s: %s\n", argv[first], strerror(error));
        _exit(error == ENOENT ? 127 : 126);
    }
    for (;;) {
        siginfo_t info;
        int signal = sigwaitinfo(&all, &info);
        if (signal < 0) {
            if (errno == EINTR) continue;
            perror("swarmctl-init: sigwaitinfo");
            return 1;
        }
        if (signal != SIGCHLD) {
            kill(child, signal);
            continue;
        }
        int status;
        pid_t ended;
        while ((ended = waitpid(-1, &status, WNOHANG)) > 0) {
            // The command is done: leaving takes the rest of the container with it, as in Docker.
            if (ended == child) return exit_code(status);
        }
    }
}
