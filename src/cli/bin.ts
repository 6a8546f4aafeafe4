#!/usr/bin/env node
import { main, reportError } from "./main.js";

main(process.argv.slice(2), { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = reportError(process.stderr, error);
  },
);
