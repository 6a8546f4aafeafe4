import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkSandboxPath, planBox, proxyVars } from "../../src/sandbox/box-plan.js";
import { bwrapArgs } from "../../src/sandbox/bwrap-args.js";
import { expandHome } from "../../src/sandbox/hidden-paths.js";
import { tempDir } from "../helpers/tmp.js";

const dir = tempDir("broker-bwrap-args-", "/var/tmp");
afterAll(() => dir.cleanup());

/** The index of a `flag a b` triple in bwrap's argv, or -1. */
const at = (args: string[], ...triple: string[]): number => args.findIndex((_, i) => triple.every((t, j) => args[i + j] === t));

describe("bwrapArgs", () => {
  const home = join(dir.path, "home");
  mkdirSync(join(home, ".aws"), { recursive: true });
  writeFileSync(join(home, ".netrc"), "machine x\n");
  const base = { cwd: home, write: [], mounts: [], infoFd: 3 };

  it("covers a hidden directory with a tmpfs and a hidden file with /dev/null, after the read-write binds", () => {
    const args = bwrapArgs({ ...base, hide: [join(home, ".aws"), join(home, ".netrc")] });
    const cwdBind = at(args, "--bind", home, home);
    expect(cwdBind).toBeGreaterThan(at(args, "--ro-bind", "/", "/"));
    expect(at(args, "--tmpfs", join(home, ".aws"))).toBeGreaterThan(cwdBind);
    expect(at(args, "--ro-bind", "/dev/null", join(home, ".netrc"))).toBeGreaterThan(cwdBind);
  });

  it("skips hidden paths that do not exist, or lie in the box's private /tmp and /run", () => {
    const args = bwrapArgs({ ...base, hide: [join(home, "absent"), "/run/user/1000", "/tmp/broker-1000"] });
    expect(args).not.toContain(join(home, "absent"));
    expect(args).not.toContain("/run/user/1000");
    expect(at(args, "--tmpfs", "/run")).toBeGreaterThan(-1);
    expect(at(args, "--tmpfs", "/tmp")).toBeGreaterThan(-1);
  });

  it("unshares every namespace, dies with its parent and starts a new terminal session", () => {
    const args = bwrapArgs({ ...base, hide: [] });
    for (const flag of ["--unshare-all", "--die-with-parent", "--new-session"]) expect(args).toContain(flag);
    expect(args).not.toContain("--share-net");
    expect(args.slice(-4)).toEqual(["--chdir", home, "--info-fd", "3"]);
  });

  it("refuses / as the working directory, and one inside a hidden path", () => {
    expect(() => bwrapArgs({ ...base, cwd: "/", hide: [] })).toThrow(expect.objectContaining({ code: "ERR_SANDBOX_PATH" }));
    expect(() => bwrapArgs({ ...base, cwd: join(home, ".aws"), hide: [join(home, ".aws")] })).toThrow(expect.objectContaining({ code: "ERR_SANDBOX_PATH" }));
  });
});

describe("planBox", () => {
  const session = {
    id: "s1",
    task: "t",
    createdAt: "",
    expiresAt: "",
    confinement: { dir: "/x/s/s1", socket: "/x/s/s1/session.sock", proxy: "/x/s/s1/proxy.sock", hide: ["/daemon/state", "~/.config/other"], write: [], passEnv: [], denied: [] },
  };
  const places = { socket: "/x/broker.sock", stateDir: "/cli/state", policies: "/cli/policies" };

  it("hides the daemon's list, the policy's, the credential places, XDG_RUNTIME_DIR and the CLI's own places", () => {
    const plan = planBox({ session, env: { XDG_RUNTIME_DIR: "/run/user/7" }, home: "/h", cwd: "/w", places });
    for (const p of ["/daemon/state", "/h/.config/other", "/h/.aws", "/h/.ssh", "/h/.vault-token", "/run/user/7", "/x/broker.sock", "/x", "/cli/state", "/cli/policies"]) {
      expect(plan.box.hide).toContain(p);
    }
    expect(plan.box.mounts).toContainEqual({ source: "/x/s/s1", target: "/run/broker-session" });
    expect(plan.env.BROKER_SOCKET).toBe("/run/broker-session/session.sock");
    expect(plan.env.HTTPS_PROXY).toBe(`http://127.0.0.1:${plan.proxyPort}`);
    expect(plan.bridges).toEqual([{ port: plan.proxyPort, socket: "/run/broker-session/proxy.sock" }]);
  });

  it("makes missing write paths, 0700", () => {
    const home = join(dir.path, "write-home");
    const plan = planBox({ session: { ...session, confinement: { ...session.confinement, write: ["~/cache/agent"] } }, env: {}, home, cwd: "/w", places });
    expect(plan.box.write).toEqual([join(home, "cache", "agent")]);
    expect(statSync(join(home, "cache", "agent")).mode & 0o777).toBe(0o700);
  });

  it("sets every proxy variable and keeps local servers off the proxy", () => {
    const vars = proxyVars(4242);
    for (const name of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "npm_config_proxy", "npm_config_https_proxy"]) expect(vars[name]).toBe("http://127.0.0.1:4242");
    expect(vars.NO_PROXY).toBe("localhost,127.0.0.1,::1");
    expect(vars.NODE_USE_ENV_PROXY).toBe("1");
  });
});

describe("checkSandboxPath and expandHome", () => {
  it("takes paths under /run/ and /tmp/ only, and never the box's own mounts", () => {
    expect(() => checkSandboxPath("/run/broker")).not.toThrow();
    expect(() => checkSandboxPath("/tmp/files")).not.toThrow();
    for (const bad of ["/etc/broker", "/run/broker-session", "/run/broker-session/x", "/run/../etc"]) {
      expect(() => checkSandboxPath(bad)).toThrow(expect.objectContaining({ code: "ERR_SANDBOX_PATH" }));
    }
  });

  it("expands ~/ against HOME and refuses relative paths", () => {
    expect(expandHome("~/.aws", "/home/a")).toBe("/home/a/.aws");
    expect(expandHome("/opt/../etc", "/home/a")).toBe("/etc");
    expect(expandHome("relative", "/home/a")).toBeNull();
  });
});

describe("an install under a private dir", () => {
  it("is kept read-only before the working directory's read-write bind, so a cwd inside it stays writable", () => {
    const args = bwrapArgs({ cwd: "/tmp/checkout/work", hide: [], write: [], mounts: [], keep: ["/tmp/checkout"], infoFd: 3 });
    const kept = at(args, "--ro-bind", "/tmp/checkout", "/tmp/checkout");
    expect(kept).toBeGreaterThan(at(args, "--tmpfs", "/tmp"));
    expect(kept).toBeLessThan(at(args, "--bind", "/tmp/checkout/work", "/tmp/checkout/work"));
  });

  it("is kept only where the box would cover it", () => {
    const session = { id: "s", task: "t", createdAt: "", expiresAt: "", confinement: { dir: "/x", socket: "/x/s", proxy: "/x/p", hide: [], write: [], passEnv: [], denied: [] } };
    const plan = planBox({ session, env: {}, home: "/h", cwd: "/w", places: { socket: "/x/b.sock", stateDir: "/st", policies: "/po" }, installs: ["/usr", "/tmp/ci", "/run/user/1/broker-pkg"] });
    expect(plan.box.keep).toEqual(["/tmp/ci", "/run/user/1/broker-pkg"]);
  });
});
