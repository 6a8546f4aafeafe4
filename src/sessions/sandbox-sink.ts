/** The seam between sessions and the sandbox directory writer (src/sinks). */
import type { SessionCredentials, SessionView } from "./types.js";

export interface SandboxHandle {
  /** Host path of the directory. */
  dir: string;
  /** Where it is mounted inside the sandbox; paths written inside files use it. */
  path: string;
  /** Made by `--sandbox-tmp`: removed with the session. */
  tmp: boolean;
  /** Relative paths written so far. */
  files: string[];
}

export interface SandboxSink {
  prepare(request: { dir?: string; tmp?: boolean; path?: string }): Promise<SandboxHandle>;
  /** Writes (or atomically replaces) every file for the session; returns the relative paths. */
  write(handle: SandboxHandle, session: SessionView, credentials: SessionCredentials): Promise<string[]>;
  remove(handle: SandboxHandle): Promise<void>;
  /** For crash recovery: removes whatever files of ours a dead session left (only beside its own session.json, or a tmp dir by our name). */
  removeLeftovers(sandbox: { dir: string; tmp: boolean }, session: string): Promise<void>;
}
