/**
 * Whether `broker run` can box its command here, and what to do when it cannot. Today the box is
 * bubblewrap on Linux; another platform's sandbox (macOS sandbox-exec) would answer here too.
 */
import { spawnSync } from "node:child_process";
import { BrokerError } from "../errors.js";
import { findOnPath } from "../util/find-on-path.js";
import { findBridge } from "./bridge-command.js";

const NO_SANDBOX = "or pass --no-sandbox to run the command unconfined (it can then reach your keychain, files and network)";

/** The programs the box needs from the system, looked up on PATH the way spawn will. */
export const SANDBOX_TOOLS = [{ name: "bwrap", package: "bubblewrap" }] as const;

/**
 * Throws ERR_SANDBOX_UNAVAILABLE unless this platform has a box and its tools are installed;
 * answers the path of the bridge program (native/, built with the addon) that starts the box.
 */
export function assertSandboxAvailable(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  if (platform !== "linux") {
    throw new BrokerError("ERR_SANDBOX_UNAVAILABLE", `broker run has no sandbox on ${platform} yet`, { fix: NO_SANDBOX });
  }
  for (const tool of SANDBOX_TOOLS) {
    if (findOnPath(tool.name, env.PATH) === null) {
      throw new BrokerError("ERR_SANDBOX_UNAVAILABLE", `${tool.name} is not installed (not on PATH): broker run boxes its command with it`, {
        fix: `install it (Debian/Ubuntu: sudo apt-get install ${tool.package}; Fedora: sudo dnf install ${tool.package}), ${NO_SANDBOX}`,
      });
    }
  }
  const bridge = findBridge();
  if (bridge === null) {
    throw new BrokerError("ERR_SANDBOX_UNAVAILABLE", "broker's network bridge for the sandbox (native/build/Release/broker-bridge) is not built", {
      fix: `build it in the broker package: run \`npm ci\` or \`npm rebuild\` (needs python3, make and a C compiler), ${NO_SANDBOX}`,
    });
  }
  return bridge;
}

/** bwrap started but could not make the box: namespaces are refused here. */
export function sandboxSetupFailed(): BrokerError {
  return new BrokerError("ERR_SANDBOX_UNAVAILABLE", "bwrap could not set up the sandbox (its own message is above)", {
    fix:
      "unprivileged user namespaces must be allowed: on Ubuntu 23.10+ run `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0` " +
      "(or give bwrap an AppArmor profile); elsewhere check `sysctl user.max_user_namespaces` and kernel.unprivileged_userns_clone=1; " +
      `in a container, allow user namespaces; ${NO_SANDBOX}`,
  });
}

/**
 * For `broker doctor`: makes a throwaway box (namespaces, read-only root, no network) and runs
 * `true` in it behind the bridge program, with one bridge listening (to a socket nobody serves).
 */
export function probeSandbox(env: NodeJS.ProcessEnv): string {
  const bridge = assertSandboxAvailable(env);
  const box = ["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"];
  const probe = spawnSync("bwrap", [...box, "--", bridge, "20000=/nonexistent/probe.sock", "--", "true"], { encoding: "utf8", env, timeout: 10_000 });
  if (probe.status !== 0) {
    const failed = sandboxSetupFailed();
    throw new BrokerError("ERR_SANDBOX_UNAVAILABLE", `bwrap could not make a sandbox: ${(probe.stderr || probe.error?.message || "no message").trim().slice(0, 300)}`, failed.fix ? { fix: failed.fix } : {});
  }
  return `bwrap makes a box here (user, PID, network and mount namespaces); ${bridge} bridges its network`;
}
