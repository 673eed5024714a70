#ifndef _GNU_SOURCE
#error "CPlatform must be compiled with _GNU_SOURCE (set in Package.swift)"
#endif
#include "cplatform.h"
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include <pthread.h>
#include <string.h>
#include <spawn.h>
#include <errno.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

int cplatform_fallocate(int fd, int mode, off_t offset, off_t len) { return fallocate(fd, mode, offset, len); }
int cplatform_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
int cplatform_accept4(int fd, void *addr, void *addrlen, int flags) {
    return accept4(fd, (struct sockaddr *)addr, (socklen_t *)addrlen, flags);
}
int cplatform_wifexited(int status) { return WIFEXITED(status); }
int cplatform_wexitstatus(int status) { return WEXITSTATUS(status); }
int cplatform_wifsignaled(int status) { return WIFSIGNALED(status); }
int cplatform_wtermsig(int status) { return WTERMSIG(status); }
const int CPLATFORM_O_CLOEXEC = O_CLOEXEC;
const int CPLATFORM_O_DIRECTORY = O_DIRECTORY;

int cplatform_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
int cplatform_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &event);
}
int cplatform_epoll_wait(int epfd, cplatform_epoll_event *events, int max_events, int timeout_ms) {
    struct epoll_event raw[256];
    if (max_events > 256) max_events = 256;
    int count = epoll_wait(epfd, raw, max_events, timeout_ms);
    for (int i = 0; i < count; i++) {
        events[i].events = raw[i].events;
        events[i].data = raw[i].data.u64;
    }
    return count;
}
int cplatform_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
const uint32_t CPLATFORM_EPOLLIN = EPOLLIN;
const uint32_t CPLATFORM_EPOLLOUT = EPOLLOUT;
const uint32_t CPLATFORM_EPOLLERR = EPOLLERR;
const uint32_t CPLATFORM_EPOLLHUP = EPOLLHUP;
const uint32_t CPLATFORM_EPOLLRDHUP = EPOLLRDHUP;
const int CPLATFORM_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int CPLATFORM_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int CPLATFORM_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

int cplatform_stream_socket(int domain) { return socket(domain, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); }
int cplatform_accept_nonblocking(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }
int cplatform_set_int_option(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value));
}
int cplatform_socket_error(int fd) {
    int value = 0;
    socklen_t length = sizeof(value);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) != 0) return -1;
    return value;
}
ssize_t cplatform_send(int fd, const void *buffer, size_t length) { return send(fd, buffer, length, MSG_NOSIGNAL); }
const int CPLATFORM_SOL_SOCKET = SOL_SOCKET;
const int CPLATFORM_SO_REUSEADDR = SO_REUSEADDR;
const int CPLATFORM_IPPROTO_TCP = IPPROTO_TCP;
const int CPLATFORM_TCP_NODELAY = TCP_NODELAY;
void cplatform_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }
void cplatform_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, 15);
    truncated[15] = 0;
    pthread_setname_np(pthread_self(), truncated);
}

int cplatform_spawnattr_for_task(void *attributes) {
    posix_spawnattr_t *attr = (posix_spawnattr_t *)attributes;
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    int result = posix_spawnattr_setsigmask(attr, &empty);
    if (result == 0) result = posix_spawnattr_setsigdefault(attr, &all);
    if (result == 0) result = posix_spawnattr_setpgroup(attr, 0);
    if (result == 0) {
        result = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    }
    return result;
}
int cplatform_spawn_addchdir(void *actions, const char *directory) {
    return posix_spawn_file_actions_addchdir_np((posix_spawn_file_actions_t *)actions, directory);
}
int cplatform_spawn_close_above_stderr(void *actions) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, 3);
}
int cplatform_wait_exited_noreap(pid_t pid) {
    siginfo_t info;
    int result;
    do {
        result = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
    } while (result != 0 && errno == EINTR);
    return result;
}

int cplatform_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

#include <sys/xattr.h>
int cplatform_setxattr(const char *path, const char *name, const void *value, size_t size) {
    return lsetxattr(path, name, value, size, 0);
}

#include <malloc.h>
int cplatform_malloc_trim(void) {
    return malloc_trim(0);
}

#include <sched.h>
int cplatform_setns_network(int fd) {
    return setns(fd, CLONE_NEWNET);
}
