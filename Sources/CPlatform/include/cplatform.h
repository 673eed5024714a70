#ifndef CPLATFORM_H
#define CPLATFORM_H
/* Linux syscalls the Swift Glibc overlay does not export. _GNU_SOURCE is defined only in the .c
 * file (defining it here breaks the Glibc module map, see reference/swift-on-linux.md). */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

int cplatform_fallocate(int fd, int mode, off_t offset, off_t len);
int cplatform_pipe2(int fds[2], int flags);
int cplatform_accept4(int fd, void *addr, void *addrlen, int flags);
/* Decoding of wait(2) statuses (the macros are not imported into Swift). */
int cplatform_wifexited(int status);
int cplatform_wexitstatus(int status);
int cplatform_wifsignaled(int status);
int cplatform_wtermsig(int status);
extern const int CPLATFORM_O_CLOEXEC;
extern const int CPLATFORM_O_DIRECTORY;

/* epoll without the packed struct: Swift sees a plain, naturally aligned event record. */
#include <stdint.h>
typedef struct {
    uint32_t events;
    uint64_t data;
} cplatform_epoll_event;
/* epoll_create1(EPOLL_CLOEXEC). */
int cplatform_epoll_create(void);
int cplatform_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int cplatform_epoll_wait(int epfd, cplatform_epoll_event *events, int max_events, int timeout_ms);
/* eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). */
int cplatform_eventfd(void);
extern const uint32_t CPLATFORM_EPOLLIN;
extern const uint32_t CPLATFORM_EPOLLOUT;
extern const uint32_t CPLATFORM_EPOLLERR;
extern const uint32_t CPLATFORM_EPOLLHUP;
extern const uint32_t CPLATFORM_EPOLLRDHUP;
extern const int CPLATFORM_EPOLL_CTL_ADD;
extern const int CPLATFORM_EPOLL_CTL_MOD;
extern const int CPLATFORM_EPOLL_CTL_DEL;

/* Sockets: every socket is created and accepted with SOCK_CLOEXEC | SOCK_NONBLOCK. */
int cplatform_stream_socket(int domain);
int cplatform_accept_nonblocking(int fd);
int cplatform_set_int_option(int fd, int level, int name, int value);
/* SO_ERROR of a socket (the outcome of a nonblocking connect); -1 with errno if the call fails. */
int cplatform_socket_error(int fd);
/* send(2) with MSG_NOSIGNAL: a closed peer yields EPIPE, never SIGPIPE. */
ssize_t cplatform_send(int fd, const void *buffer, size_t length);
extern const int CPLATFORM_SOL_SOCKET;
extern const int CPLATFORM_SO_REUSEADDR;
extern const int CPLATFORM_IPPROTO_TCP;
extern const int CPLATFORM_TCP_NODELAY;
/* signal(SIGPIPE, SIG_IGN): plain write(2) on a socket cannot take MSG_NOSIGNAL. */
void cplatform_ignore_sigpipe(void);
/* Names the calling thread (the kernel keeps 15 bytes); shows in top -H and gdb. */
void cplatform_set_thread_name(const char *name);
/* posix_spawn set-up for task processes: an empty signal mask, every signal at its default
 * disposition, and a new process group led by the child (POSIX_SPAWN_SETSIGMASK|SETSIGDEF|SETPGROUP).
 * `attributes` points to a posix_spawnattr_t; returns 0 or an errno value. */
int cplatform_spawnattr_for_task(void *attributes);
/* posix_spawn_file_actions_addchdir_np (glibc >= 2.29); `actions` points to a
 * posix_spawn_file_actions_t. Returns 0 or an errno value. */
int cplatform_spawn_addchdir(void *actions, const char *directory);
/* posix_spawn_file_actions_addclosefrom_np(actions, 3) (glibc >= 2.34): the child closes every
 * descriptor above stderr, so descriptors other libraries opened without O_CLOEXEC do not leak. */
int cplatform_spawn_close_above_stderr(void *actions);
/* Blocks until child `pid` has exited, without reaping it (waitid WEXITED|WNOWAIT), so its pid and
 * process group id stay reserved while the rest of the group is killed. 0, or -1 with errno. */
int cplatform_wait_exited_noreap(pid_t pid);
/* Makes this process the reaper of orphaned descendants (prctl PR_SET_CHILD_SUBREAPER), so a
 * supervisor (a test harness, `swarmctl dev`) can find and end what its killed children left. */
int cplatform_set_child_subreaper(void);
/* lsetxattr(2) (sys/xattr.h is not in the Glibc module): marks overlayfs opaque directories. */
int cplatform_setxattr(const char *path, const char *name, const void *value, size_t size);
/* malloc_trim(0) (malloc.h is not in the Glibc module): returns freed heap memory to the system,
 * e.g. after large request bodies were released. Returns 1 if memory was released. */
int cplatform_malloc_trim(void);
/* setns(fd, CLONE_NEWNET): moves the calling thread (only) into the network namespace open at fd,
 * so a short-lived thread can bind a socket inside a task's namespace and come back. */
int cplatform_setns_network(int fd);
#endif
