/** The daemon's sandbox sink: prepares the directory, writes a session's files, removes them. */
import type { SandboxHandle, SandboxSink } from "../sessions/sandbox-sink.js";
import { createTmpSandbox, openSandboxDir } from "./safe-write.js";
import { SANDBOX_FILES, removeSandbox, renderSandboxFiles, writeSandbox, type WrittenFiles } from "./sandbox-files.js";

export function createSandboxSink(): SandboxSink {
  // What was written for each live sandbox, so removal deletes only files we wrote (same inode).
  const written = new WeakMap<SandboxHandle, WrittenFiles>();
  return {
    async prepare(request) {
      const dir = request.tmp ? await createTmpSandbox() : await openSandboxDir(request.dir ?? "");
      return { dir, path: request.path ?? dir, tmp: request.tmp === true, files: [] };
    },
    async write(handle, session, credentials) {
      const files = renderSandboxFiles({ id: session.id, task: session.task, expiresAt: session.expiresAt, credentials }, handle.path);
      const identities = await writeSandbox(handle.dir, files);
      written.set(handle, { ...written.get(handle), ...identities });
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
