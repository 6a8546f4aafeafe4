/**
 * What a confined command must not see: the places where the operator's long-lived credentials,
 * agents and the broker's own files live. Paths are `~/…` or absolute; `expandHome` turns them
 * into host paths against the operator's HOME.
 */
import { isAbsolute, join, normalize } from "node:path";

/** The usual credential places (docs/containment.md). */
export const HIDDEN_CREDENTIAL_PATHS = [
  "~/.aws",
  "~/.ssh",
  "~/.gnupg",
  "~/.config/gh",
  "~/.git-credentials",
  "~/.netrc",
  "~/.docker",
  "~/.kube",
  "~/.npmrc",
  "~/.pypirc",
  "~/.config/gcloud",
  "~/.azure",
  "~/.local/share/keyrings",
  "~/.password-store",
  "~/.vault-token",
] as const;

/** `~/x` → `$HOME/x`; absolute paths are normalised; anything else is null (policies refuse it). */
export function expandHome(path: string, home: string): string | null {
  if (path === "~" || path.startsWith("~/")) return normalize(join(home, path.slice(1)));
  return isAbsolute(path) ? normalize(path) : null;
}

/** Whether `inner` is `outer` or lies below it. */
export function isWithin(inner: string, outer: string): boolean {
  const o = outer.endsWith("/") ? outer : `${outer}/`;
  return inner === outer || inner.startsWith(o);
}
