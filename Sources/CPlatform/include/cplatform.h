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
#endif
