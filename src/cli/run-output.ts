/**
 * CMD's output under `broker run`: piped through maskers when it does not go to a terminal. When
 * stdout and stderr are one file or pipe, both go through one masker, as the one stream they
 * become: a value CMD splits between them is concealed there too.
 */
import type { ChildProcess } from "node:child_process";
import { fstatSync } from "node:fs";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { SessionCredentials } from "../client/broker-client.js";
import { createMaskingStream, type MaskingStream } from "../sinks/mask.js";
import { secretForms } from "../sinks/secret-forms.js";

/** Every credential value a session holds, in every form it may appear in output. */
export function credentialValues(credentials: SessionCredentials): string[] {
  const { aws, github, env } = credentials;
  return [...(aws ? [aws.accessKeyId, aws.secretAccessKey, aws.sessionToken] : []), ...(github ? [github.token] : []), ...Object.values(env)].flatMap(secretForms);
}

/** Whether two of our streams write to the same file or pipe (`>out 2>&1`, `2>&1 | …`): same device and inode. */
export function sameOutput(a: NodeJS.WritableStream, b: NodeJS.WritableStream): boolean {
  const fdA = (a as { fd?: unknown }).fd;
  const fdB = (b as { fd?: unknown }).fd;
  if (typeof fdA !== "number" || typeof fdB !== "number") return false;
  try {
    const [x, y] = [fstatSync(fdA), fstatSync(fdB)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

export interface PipedOutput {
  maskers: MaskingStream[];
  /** Resolves once everything CMD wrote has been passed on. */
  done: Promise<void>;
}

export function pipeOutput(
  child: ChildProcess,
  targets: { stdout: NodeJS.WritableStream | null; stderr: NodeJS.WritableStream | null },
  secrets: string[],
  merged = false,
): PipedOutput {
  if (merged && child.stdout && child.stderr && targets.stdout) return pipeMerged([child.stdout, child.stderr], targets.stdout, secrets);
  const maskers: MaskingStream[] = [];
  const pending: Promise<void>[] = [];
  for (const [source, target] of [
    [child.stdout, targets.stdout],
    [child.stderr, targets.stderr],
  ] as const) {
    if (!source || !target) continue;
    const masker = createMaskingStream(secrets);
    maskers.push(masker);
    source.pipe(masker);
    // Our own stdout/stderr must stay open after CMD ends, so pipe with end: false.
    masker.pipe(target, { end: false });
    // Our reader went away (`broker run … | head`): stop reading, so that CMD meets the closed
    // pipe as it would without us in between (EPIPE, SIGPIPE), instead of broker run dying on an
    // unhandled EPIPE. One broker run per process: the listener may stay.
    target.on("error", () => {
      masker.unpipe(target);
      source.destroy();
      masker.destroy();
    });
    pending.push(finished(masker).then(() => undefined, () => undefined));
  }
  return { maskers, done: Promise.all(pending).then(() => undefined) };
}

/** Both of CMD's streams through one masker into one target, in the order their chunks arrive. */
function pipeMerged(sources: Readable[], target: NodeJS.WritableStream, secrets: string[]): PipedOutput {
  const masker = createMaskingStream(secrets);
  let open = sources.length;
  for (const source of sources) {
    source.pipe(masker, { end: false });
    const ended = () => {
      source.removeListener("end", ended);
      source.removeListener("close", ended);
      if (--open === 0) masker.end();
    };
    source.once("end", ended);
    source.once("close", ended);
  }
  masker.pipe(target, { end: false });
  target.on("error", () => {
    masker.unpipe(target);
    for (const source of sources) source.destroy();
    masker.destroy();
  });
  return { maskers: [masker], done: finished(masker).then(() => undefined, () => undefined) };
}
