#ifndef CPLATFORM_TERMINAL_H
#define CPLATFORM_TERMINAL_H
/* Terminals and descriptor passing for `docker exec -t` (openpty, TIOCSWINSZ, SCM_RIGHTS), which
 * the Swift Glibc overlay does not export or cannot call (ioctl and fcntl are variadic). */
#include <stddef.h>
#include <sys/types.h>

/* Opens a new pseudo-terminal: *master gets the master side (O_RDWR|O_NOCTTY|O_CLOEXEC), `name`
 * (of `size` bytes) the slave's path. 0, or -1 with errno. */
int cplatform_open_pty(int *master, char *name, size_t size);
/* Sets the window size of the terminal open at `fd` (TIOCSWINSZ). 0, or -1 with errno. */
int cplatform_set_window_size(int fd, unsigned short rows, unsigned short columns);
/* Receives one descriptor passed with SCM_RIGHTS on the connected unix socket `socket` (runc's
 * --console-socket sends the terminal master this way). The descriptor (CLOEXEC), or -1 with errno
 * (EBADMSG when the message carried none). */
int cplatform_receive_descriptor(int socket);
/* posix_spawn set-up for a process with a terminal: an empty signal mask, every signal at its
 * default disposition, and a new session (POSIX_SPAWN_SETSID), so the first terminal it opens
 * becomes its controlling terminal. `attributes` points to a posix_spawnattr_t; 0 or an errno value. */
int cplatform_spawnattr_for_session(void *attributes);
#endif
