#ifndef _GNU_SOURCE
#error "CPlatform must be compiled with _GNU_SOURCE (set in Package.swift)"
#endif
#include "cplatform.h"
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

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
