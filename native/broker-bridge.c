/*
 * broker-bridge: the first process inside a confined `broker run` box. It listens on each
 * PORT of the box's own loopback (127.0.0.1), forwards every connection to the matching Unix
 * socket (the session's proxy, the AWS endpoint: bound into the box from outside), tells
 * `broker run` the box is up (the byte 'r' on fd 4), closes fds 3 and 4, and becomes CMD.
 *
 *   usage: broker-bridge PORT=UNIXSOCKET... -- CMD ARGS...
 *
 * The forwarder is double-forked: its parent exits at once, so it belongs to the box's init and
 * is never CMD's child (a shell CMD that runs `wait` does not wait for it). It dies with the box.
 * Each connection gets a child of its own that relays both ways (poll, non-blocking sockets, a
 * 64 KiB buffer per direction) and passes a half-close on with shutdown(SHUT_WR).
 * Plain C, Linux, no dependencies; built by node-gyp next to the addon (native/binding.gyp).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define INFO_FD 3  /* bwrap's --info-fd: closed before CMD starts */
#define READY_FD 4 /* `broker run` waits for one byte here */
#define BUFFER_SIZE 65536

struct bridge {
  int port;
  const char *socket_path;
  int listener;
};

static void bridge_failed(int port, const char *why) {
  fprintf(stderr, "broker: the sandbox's network bridge did not start (port %d: %s)\n", port, why);
  exit(1);
}

/* "PORT=SOCKET" into a bridge; anything else is a usage error (exit 2). */
static void parse_bridge(const char *arg, struct bridge *b) {
  const char *eq = strchr(arg, '=');
  char *end;
  long port = strtol(arg, &end, 10);
  if (eq == NULL || end != eq || port < 1 || port > 65535 || eq[1] == '\0') {
    fprintf(stderr, "broker-bridge: bad bridge \"%s\" (usage: broker-bridge PORT=UNIXSOCKET... -- CMD ARGS...)\n", arg);
    exit(2);
  }
  b->port = (int)port;
  b->socket_path = eq + 1;
  if (strlen(b->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) bridge_failed(b->port, "socket path too long");
}

/* Listens on 127.0.0.1:port (non-blocking: the forwarder's accept never hangs on a reset peer). */
static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) bridge_failed(port, strerror(errno));
  int one = 1;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 128) != 0) {
    bridge_failed(port, strerror(errno));
  }
  return fd;
}

/* One direction of a connection: bytes read from `from`, not yet written to `to`. */
struct direction {
  int from, to;
  size_t start, end;
  int eof;  /* `from` has no more to give */
  int shut; /* passed on to `to` with shutdown(SHUT_WR) */
  char buffer[BUFFER_SIZE];
};

/* Moves what it can without blocking; returns -1 on an error (the connection is then dropped). */
static int pump(struct direction *d) {
  if (d->start == d->end && !d->eof) {
    ssize_t n = read(d->from, d->buffer, sizeof d->buffer);
    if (n > 0) {
      d->start = 0;
      d->end = (size_t)n;
    } else if (n == 0) {
      d->eof = 1;
    } else if (errno != EAGAIN && errno != EINTR) {
      return -1;
    }
  }
  while (d->start < d->end) {
    ssize_t n = send(d->to, d->buffer + d->start, d->end - d->start, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    d->start += (size_t)n;
  }
  if (d->eof && !d->shut) {
    shutdown(d->to, SHUT_WR);
    d->shut = 1;
  }
  return 0;
}

static struct direction up, down; /* box → outside, outside → box (static: 128 KiB is no stack's business) */

/* A connection's own child: connect to the Unix socket, then relay both ways until both end. */
static void relay(int tcp, const char *socket_path) {
  int unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, socket_path); /* length checked by parse_bridge */
  if (unix_fd < 0 || connect(unix_fd, (struct sockaddr *)&addr, sizeof addr) != 0) _exit(1);
  if (fcntl(tcp, F_SETFL, O_NONBLOCK) != 0 || fcntl(unix_fd, F_SETFL, O_NONBLOCK) != 0) _exit(1);
  up.from = tcp, up.to = unix_fd;
  down.from = unix_fd, down.to = tcp;
  for (;;) {
    if (pump(&up) != 0 || pump(&down) != 0) _exit(1);
    if (up.shut && down.shut) _exit(0);
    /* Wait to read where a buffer is empty, to write where one is not; an fd with neither is left out. */
    struct pollfd fds[2] = {{.fd = tcp}, {.fd = unix_fd}};
    if (up.start == up.end && !up.eof) fds[0].events |= POLLIN;
    if (down.start < down.end) fds[0].events |= POLLOUT;
    if (down.start == down.end && !down.eof) fds[1].events |= POLLIN;
    if (up.start < up.end) fds[1].events |= POLLOUT;
    for (int i = 0; i < 2; i++) if (fds[i].events == 0) fds[i].fd = -1;
    if (poll(fds, 2, -1) < 0 && errno != EINTR) _exit(1);
  }
}

/* The forwarder: accepts on every listener and hands each connection to a child of its own. */
static void forward(struct bridge *bridges, int count) {
  int devnull = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; fd++) {
    if (devnull >= 0) dup2(devnull, fd); else close(fd);
  }
  if (devnull > 2) close(devnull);
  close(INFO_FD);
  close(READY_FD);
  signal(SIGCHLD, SIG_IGN); /* connection children are reaped by the kernel */
  signal(SIGPIPE, SIG_IGN);
  struct pollfd *fds = calloc((size_t)count, sizeof *fds);
  if (fds == NULL) _exit(1);
  for (int i = 0; i < count; i++) fds[i] = (struct pollfd){.fd = bridges[i].listener, .events = POLLIN};
  for (;;) {
    if (poll(fds, (nfds_t)count, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    for (int i = 0; i < count; i++) {
      if (!(fds[i].revents & POLLIN)) continue;
      int conn = accept4(bridges[i].listener, NULL, NULL, SOCK_CLOEXEC);
      if (conn < 0) continue; /* EAGAIN, a peer gone already, out of fds: try again later */
      pid_t pid = fork();
      if (pid == 0) {
        for (int j = 0; j < count; j++) close(bridges[j].listener);
        relay(conn, bridges[i].socket_path);
      }
      close(conn);
    }
  }
}

int main(int argc, char **argv) {
  int sep = 1;
  while (sep < argc && strcmp(argv[sep], "--") != 0) sep++;
  if (sep >= argc - 1) {
    fprintf(stderr, "broker-bridge: usage: broker-bridge PORT=UNIXSOCKET... -- CMD ARGS...\n");
    return 2;
  }
  /* Fds 0 to 4 taken before any socket is made (by /dev/null where they are closed): a
   * listener must never land on fd 3 or 4, which are closed before CMD starts. */
  int fd;
  while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= READY_FD) {}
  if (fd > READY_FD) close(fd);
  int count = sep - 1;
  struct bridge *bridges = calloc((size_t)(count > 0 ? count : 1), sizeof *bridges);
  if (bridges == NULL) bridge_failed(0, strerror(ENOMEM));
  for (int i = 0; i < count; i++) {
    parse_bridge(argv[i + 1], &bridges[i]);
    bridges[i].listener = listen_on(bridges[i].port);
  }
  /* Listening already: a connection made before the forwarder polls waits in the backlog. */
  if (count > 0) {
    pid_t child = fork();
    if (child < 0) bridge_failed(bridges[0].port, strerror(errno));
    if (child == 0) {
      pid_t forwarder = fork();
      if (forwarder == 0) forward(bridges, count);
      _exit(forwarder < 0 ? 1 : 0);
    }
    int status = 0;
    pid_t waited;
    while ((waited = waitpid(child, &status, 0)) < 0 && errno == EINTR) {}
    if (waited != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) bridge_failed(bridges[0].port, "fork failed");
  }
  if (write(READY_FD, "r", 1) < 0) {
    /* No one waiting (run by hand): nothing to tell. */
  }
  close(INFO_FD);
  close(READY_FD);
  char **command = argv + sep + 1;
  execvp(command[0], command);
  if (errno == ENOENT) {
    fprintf(stderr, "broker: cannot run %s in the sandbox (not found; check the command name and PATH)\n", command[0]);
    return 127;
  }
  fprintf(stderr, "broker: cannot run %s in the sandbox (%s)\n", command[0], strerror(errno));
  return 126;
}
