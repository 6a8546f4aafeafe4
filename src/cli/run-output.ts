/** CMD's output under `broker run`: piped through maskers when it does not go to a terminal. */
import type { ChildProcess } from "node:child_process";
import { finished } from "node:stream/promises";
import type { SessionCredentials } from "../client/broker-client.js";
import { createMaskingStream, type MaskingStream } from "../sinks/mask.js";

/** Every credential value a session holds, as it would appear in output. */
export function credentialValues(credentials: SessionCredentials): string[] {
  const { aws, github, env } = credentials;
  return [
    ...(aws ? [aws.accessKeyId, aws.secretAccessKey, aws.sessionToken] : []),
    ...(github ? [github.token, encodeURIComponent(github.token)] : []),
    ...Object.values(env),
  ];
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
): PipedOutput {
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

/**
 * Values change on refresh: poll the session every few seconds so new ones are masked too. (The
 * daemon refreshes minutes before expiry, and a fresh value is rarely printed the moment it exists.)
 */
export function startMaskRefresh(maskers: MaskingStream[], fetch: () => Promise<SessionCredentials>, everyMs = 3_000): () => void {
  const timer = setInterval(() => {
    fetch().then(
      (credentials) => {
        for (const m of maskers) m.addSecrets(credentialValues(credentials));
      },
      () => undefined,
    );
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
