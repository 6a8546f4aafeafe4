/** The daemon's sandbox sink: prepares the directory, writes a session's files, removes them. */
import type { FileHandle } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { BrokerError } from "../errors.js";
import type { SandboxHandle, SandboxSink } from "../sessions/sandbox-sink.js";
import { checkSandboxContents, checkSandboxPlace, hasOurMarker, type SandboxMarker } from "./sandbox-claim.js";
import { unsafe } from "./sandbox-dirs.js";
import { createTmpSandbox, isTmpSandboxPath, openSandboxDir, removeHeldSandboxDir, removeSandboxDir } from "./safe-write.js";
import { SANDBOX_FILES, removeSandbox, renderSandboxFiles, writeSandbox, type WrittenFiles } from "./sandbox-files.js";

export function createSandboxSink(marker: SandboxMarker): SandboxSink {
  // What was written for each live sandbox, so removal deletes only files we wrote (same inode).
  const written = new WeakMap<SandboxHandle, WrittenFiles>();
  // `--sandbox-tmp`: the directory held open from creation to removal, so a rename cannot keep a copy.
  const held = new WeakMap<SandboxHandle, FileHandle>();
  return {
    async prepare(request) {
      checkSandboxRequest(request);
      if (request.tmp) {
        const { dir, handle } = await createTmpSandbox();
        const sandbox = { dir, path: request.path ?? dir, tmp: true, files: [] };
        held.set(sandbox, handle);
        return sandbox;
      }
      const dir = await openSandboxDir(request.dir ?? "");
      await checkSandboxPlace(dir);
      await checkSandboxContents(dir, marker);
      return { dir, path: request.path ?? dir, tmp: false, files: [] };
    },
    async write(handle, session, credentials) {
      const files = renderSandboxFiles({ id: session.id, task: session.task, expiresAt: session.expiresAt, credentials }, handle.path, marker.mark(session.id));
      // Recorded file by file: a write refused halfway still leaves what it wrote removable.
      const identities = written.get(handle) ?? {};
      written.set(handle, identities);
      const root = held.get(handle);
      await writeSandbox(handle.dir, files, root ? { root } : {}, identities);
      return Object.keys(files);
    },
    async remove(handle) {
      const root = held.get(handle);
      if (root) {
        held.delete(handle);
        return removeHeldSandboxDir(handle.dir, root);
      }
      const identities = written.get(handle) ?? {};
      await removeSandbox(handle.dir, Object.keys(identities), { written: identities });
    },
    async removeLeftovers(sandbox, session) {
      // Only what we made: a tmp dir by our name under our root, files beside a session.json of that session.
      if (sandbox.tmp) {
        if (!isTmpSandboxPath(sandbox.dir)) throw unsafe(`the journal names ${sandbox.dir} as a --sandbox-tmp directory, but broker makes none there; left alone`, "check who wrote the journal");
        return removeSandboxDir(sandbox.dir);
      }
      if (!(await hasOurMarker(sandbox.dir, marker, session))) return;
      await removeSandbox(sandbox.dir, SANDBOX_FILES);
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
