/** The daemon's sandbox sink: prepares the directory, writes a session's files, removes them. */
import { isAbsolute } from "node:path";
import { BrokerError } from "../errors.js";
import type { SandboxHandle, SandboxSink } from "../sessions/sandbox-sink.js";
import { createTmpSandbox, openSandboxDir } from "./safe-write.js";
import { SANDBOX_FILES, removeSandbox, renderSandboxFiles, writeSandbox, type WrittenFiles } from "./sandbox-files.js";

export function createSandboxSink(): SandboxSink {
  // What was written for each live sandbox, so removal deletes only files we wrote (same inode).
  const written = new WeakMap<SandboxHandle, WrittenFiles>();
  return {
    async prepare(request) {
      checkSandboxRequest(request);
      const dir = request.tmp ? await createTmpSandbox() : await openSandboxDir(request.dir ?? "");
      return { dir, path: request.path ?? dir, tmp: request.tmp === true, files: [] };
    },
    async write(handle, session, credentials) {
      const files = renderSandboxFiles({ id: session.id, task: session.task, expiresAt: session.expiresAt, credentials }, handle.path);
      // Recorded file by file: a write refused halfway still leaves what it wrote removable.
      const identities = written.get(handle) ?? {};
      written.set(handle, identities);
      await writeSandbox(handle.dir, files, {}, identities);
      return Object.keys(files);
    },
    async remove(handle) {
      const identities = written.get(handle) ?? {};
      await removeSandbox(handle.dir, Object.keys(identities), { removeDir: handle.tmp, written: identities });
    },
    async removeLeftovers(sandbox) {
      await removeSandbox(sandbox.dir, SANDBOX_FILES, { removeDir: sandbox.tmp });
    },
  };
}

/**
 * A sandbox is a given absolute directory or a fresh tmp one, never both or neither: an empty or
 * relative `dir` would resolve against the daemon's own working directory, not the caller's.
 */
function checkSandboxRequest(request: { dir?: string; tmp?: boolean }): void {
  const fix = "send sandbox.dir as an absolute path (broker resolves --sandbox for you), or sandbox.tmp: true";
  if (request.tmp === true && request.dir !== undefined) throw new BrokerError("ERR_BAD_REQUEST", "sandbox takes dir or tmp, not both", { fix });
  if (request.tmp !== true && request.dir === undefined) throw new BrokerError("ERR_BAD_REQUEST", "sandbox needs dir or tmp", { fix });
  if (request.dir !== undefined && !isAbsolute(request.dir)) throw new BrokerError("ERR_BAD_REQUEST", `sandbox.dir must be an absolute path, not ${JSON.stringify(request.dir.slice(0, 200))}`, { fix });
}
