#!/usr/bin/env -S node --
// `node --`: stops Node from reading `--env-file F` (a `broker run` flag) as its own option (nodejs/node#54232).
import { main, reportError } from "./main.js";

// `stdin` is a getter: process.stdin builds a stream (and loads its modules) on first use, which
// only `secret set` and `git-credential` make; the rest start about a millisecond sooner.
const ctx = {
  env: process.env,
  get stdin() {
    return process.stdin;
  },
  stdout: process.stdout,
  stderr: process.stderr,
};

main(process.argv.slice(2), ctx).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = reportError(process.stderr, error);
  },
);
