/** Where things live (docs/interface.md "Places"): flag, then environment, then the default. */
import { homedir } from "node:os";
import { join } from "node:path";

export interface Places {
  socket: string;
  policies: string;
  stateDir: string;
  store: "os" | "file";
  passphraseFile: string | undefined;
}

export interface PlaceFlags {
  socket?: string | undefined;
  policies?: string | undefined;
  "state-dir"?: string | undefined;
  store?: string | undefined;
  "passphrase-file"?: string | undefined;
}

const userStateHome = (env: NodeJS.ProcessEnv): string => env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state");

/**
 * `$XDG_RUNTIME_DIR/broker/broker.sock`, else `$XDG_STATE_HOME/broker/run/broker.sock`
 * (`~/.local/state/broker/run/broker.sock`): a directory under the user's own home, never a
 * name in /tmp that another user could create first. Daemon and client both resolve it here.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv): string {
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "broker", "broker.sock");
  return join(userStateHome(env), "broker", "run", "broker.sock");
}

export function resolvePlaces(flags: PlaceFlags, env: NodeJS.ProcessEnv): Places {
  const home = env.HOME || homedir();
  const config = env.XDG_CONFIG_HOME || join(home, ".config");
  const state = userStateHome(env);
  const store = flags.store ?? env.BROKER_STORE ?? "os";
  return {
    socket: flags.socket ?? env.BROKER_SOCKET ?? defaultSocketPath(env),
    policies: flags.policies ?? env.BROKER_POLICIES ?? join(config, "broker", "policies"),
    stateDir: flags["state-dir"] ?? env.BROKER_STATE_DIR ?? join(state, "broker"),
    store: store === "file" ? "file" : "os",
    passphraseFile: flags["passphrase-file"],
  };
}

export function isValidStoreName(value: string | undefined): boolean {
  return value === undefined || value === "os" || value === "file";
}
