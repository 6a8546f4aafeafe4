/**
 * The first process inside the box: a POSIX sh script that starts one socat per bridge (a TCP
 * port on the box's own loopback, forwarded to a Unix socket the daemon or `broker run` listens
 * on outside), waits until each listens, tells `broker run` it is up (a byte on fd 4), and then
 * becomes CMD. socat is double-forked so it is the box's init's child, never CMD's: a shell CMD
 * that runs `wait` does not wait for it.
 */

export interface Bridge {
  /** Port on 127.0.0.1 inside the box. */
  port: number;
  /** Unix socket as seen inside the box. */
  socket: string;
}

/** The fd the script writes its ready byte to. */
export const READY_FD = 4;

// /proc/net/tcp lists the box's own network namespace: a LISTEN (0A) line for 127.0.0.1:port.
// Read with the shell's own `read`, not grep: a fork per look would cost more than the wait.
const SCRIPT = `
while [ "$1" != "--" ]; do
  port=\${1%%=*}; sock=\${1#*=}; shift
  (socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock" </dev/null >/dev/null 2>&1 &)
  want="0100007F:$(printf '%04X' "$port") 00000000:0000 0A"; tries=0
  while :; do
    while read -r _ addr peer state _; do [ "$addr $peer $state" = "$want" ] && break 2; done </proc/net/tcp
    tries=$((tries + 1))
    if [ "$tries" -gt 20000 ]; then echo "broker: the sandbox's network bridge did not start (socat)" >&2; exit 1; fi
  done
done
shift
printf r >&${READY_FD}
exec 3>&- ${READY_FD}>&-
if ! command -v "$1" >/dev/null 2>&1; then echo "broker: cannot run $1 in the sandbox (not found; check the command name and PATH)" >&2; exit 127; fi
exec "$@"
`;

/** `sh -c SCRIPT broker-box port=sock … -- CMD…` */
export function bridgeCommand(bridges: readonly Bridge[], command: readonly string[]): string[] {
  return ["sh", "-c", SCRIPT, "broker-box", ...bridges.map((b) => `${b.port}=${b.socket}`), "--", ...command];
}
