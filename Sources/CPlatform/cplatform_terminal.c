#include "cplatform_terminal.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int cplatform_open_pty(int *master, char *name, size_t size) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname_r(fd, name, size) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *master = fd;
    return 0;
}

int cplatform_set_window_size(int fd, unsigned short rows, unsigned short columns) {
    struct winsize size;
    memset(&size, 0, sizeof size);
    size.ws_row = rows;
    size.ws_col = columns;
    return ioctl(fd, TIOCSWINSZ, &size);
}

int cplatform_spawnattr_for_session(void *attributes) {
    posix_spawnattr_t *spawn = attributes;
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    int result = posix_spawnattr_setsigmask(spawn, &empty);
    if (result == 0) result = posix_spawnattr_setsigdefault(spawn, &all);
    if (result == 0) result = posix_spawnattr_setflags(spawn, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    return result;
}
