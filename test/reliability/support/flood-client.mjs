/* global setTimeout, setInterval, clearInterval */
// One process of the connection flood (flood.test.ts): holds COUNT connections to the daemon's
// socket, a third each idle (never a byte), slowloris (a request head one header every 3 s) and
// half-body (a whole head announcing 64 KiB, then 48 KiB of body, then nothing), opened at about
// 250 a second, and held until the daemon closes them; one the kernel turned away (EAGAIN: the
// accept queue is full) is tried again 2, 4, then every 8 s, so every one of them reaches the daemon.
// Prints its counts as one JSON line per second and once more on SIGTERM.
import { connect } from "node:net";

const [socketPath, countText] = process.argv.slice(2);
const COUNT = Number(countText);
const RETRY_MS = 2_000;
const BATCH = 25;
const kinds = ["idle", "slowloris", "half-body"];
const stats = { attempts: 0, held: 0, busy: 0, timedOut: 0, otherAnswers: 0, errors: {} };
const body = `{"task":"flood","pad":"${"x".repeat(48 * 1024)}`;
let stopping = false;

function open(n, tries = 0) {
  if (stopping) return;
  stats.attempts += 1;
  const kind = kinds[n % 3];
  const socket = connect(socketPath);
  let timer;
  let answer = "";
  let connected = false;
  socket.on("connect", () => {
    connected = true;
    stats.held += 1;
    if (kind === "slowloris") {
      socket.write("POST /v1/sessions HTTP/1.1\r\nHost: broker\r\n");
      let i = 0;
      timer = setInterval(() => socket.write(`X-Slow-${i++}: y\r\n`), 3000);
    } else if (kind === "half-body") {
      socket.write(`POST /v1/sessions HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n${body}`);
    }
  });
  socket.on("data", (chunk) => {
    if (answer.length < 200) answer += chunk.toString("latin1");
  });
  socket.on("error", (error) => {
    if (!connected) stats.errors[error.code ?? "error"] = (stats.errors[error.code ?? "error"] ?? 0) + 1;
  });

  socket.on("close", () => {
    clearInterval(timer);
    if (connected) stats.held -= 1;
    if (answer.includes("ERR_BUSY")) stats.busy += 1;
    else if (answer.startsWith("HTTP/1.1 408")) stats.timedOut += 1;
    else if (answer !== "") stats.otherAnswers += 1;
    if (!connected) setTimeout(() => open(n, tries + 1), RETRY_MS * 2 ** Math.min(tries, 2) + Math.floor(Math.random() * 500));
  });
}

// Opened in batches, so the flood builds up over a few seconds rather than in one tick.
for (let start = 0; start < COUNT; start += BATCH) setTimeout(() => {
  for (let n = start; n < Math.min(COUNT, start + BATCH); n++) open(n);
}, (start / BATCH) * 100);

const report = () => process.stdout.write(`${JSON.stringify(stats)}\n`);
const ticker = setInterval(report, 1000);
process.on("SIGTERM", () => {
  stopping = true;
  clearInterval(ticker);
  report();
  process.exit(0);
});
