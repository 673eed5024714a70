#ifndef CPLATFORM_TERMINAL_H
#define CPLATFORM_TERMINAL_H
/* Terminals for `docker exec -t` (posix_openpt, TIOCSWINSZ, a spawn in a new session), which the
 * Swift Glibc overlay does not export or cannot call (ioctl is variadic). */
#include <stddef.h>
#include <sys/types.h>

/* Opens a new pseudo-terminal: *master gets the master side (O_RDWR|O_NOCTTY|O_CLOEXEC), `name`
 * (of `size` bytes) the slave's path. 0, or -1 with errno. */
int cplatform_open_pty(int *master, char *name, size_t size);
/* Sets the window size of the terminal open at `fd` (TIOCSWINSZ). 0, or -1 with errno. */
int cplatform_set_window_size(int fd, unsigned short rows, unsigned short columns);
/* posix_spawn set-up for a process with a terminal: an empty signal mask, every signal at its
 * default disposition, and a new session (POSIX_SPAWN_SETSID), so the first terminal it opens
 * becomes its controlling terminal. `attributes` points to a posix_spawnattr_t; 0 or an errno value. */
int cplatform_spawnattr_for_session(void *attributes);
#endif
