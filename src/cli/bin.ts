#!/usr/bin/env -S node --
// `node --`: stops Node from reading `--env-file F` (a `broker run` flag) as its own option (nodejs/node#54232).
import { main, reportError } from "./main.js";

main(process.argv.slice(2), { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = reportError(process.stderr, error);
  },
);
