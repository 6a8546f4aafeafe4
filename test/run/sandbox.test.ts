import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks, inBrokerSandbox, parseReport as report } from "../helpers/bwrap.js";
import { startRunFixture, type RunFixture } from "./run-fixture.js";

// The test brings its own bwrap sandbox, as a wrapper would: broker run itself is --no-sandbox (bwrap does not nest).

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

/** Lines `key=value` the script inside prints, as a map. */
describe.skipIf(!bwrapWorks())("broker run: CMD in a bubblewrap sandbox (private HOME, no network, session dir read-only)", () => {
  let f: RunFixture;
  let server: Server;
  let port: number;
  let connections = 0;
  let operatorHome: string;
  const marker = `operator-marker-${randomBytes(6).toString("hex")}`;

  beforeAll(async () => {
    f = await startRunFixture();
    // The operator's HOME as the test daemon and CLI see it, with a marker and AWS credentials.
    operatorHome = f.d.env.HOME!;
    writeFileSync(join(operatorHome, marker), "operator's file\n");
    mkdirSync(join(operatorHome, ".aws"), { recursive: true });
    writeFileSync(join(operatorHome, ".aws", "credentials"), "[default]\naws_access_key_id = AKIAOPERATOR\n");
    server = createServer((socket) => {
      connections++;
      socket.on("error", () => undefined); // the probe exits as soon as it has connected
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await f.cleanup();
  });

  /** What the script inside the sandbox reports about what it can see and do. */
  const probe = (): string => `
    echo "home=$HOME"
    echo "home_entries=[$(ls -A "$HOME")]"
    echo "operator_home=[$(ls -A '${operatorHome}' 2>/dev/null || echo absent)]"
    echo "root_entries=[$(ls -A / | tr '\\n' ' ')]"
    echo "files=[$(ls -A /run/broker | tr '\\n' ' ')]"
    echo "modes=[$(stat -c '%a' /run/broker/env /run/broker/session.json | tr '\\n' ' ')]"
    echo "task_before=$BROKER_TASK"
    set -a; . /run/broker/env; set +a
    echo "task=$BROKER_TASK"
    echo "sandbox_dir=$BROKER_SANDBOX_DIR"
    echo "demo_sha=$(printf %s "$DEMO_TOKEN" | sha256sum | cut -d' ' -f1)"
    echo "other_sha=$(printf %s "$OTHER_KEY" | sha256sum | cut -d' ' -f1)"
    if (echo tampered >> /run/broker/env) 2>/dev/null; then echo write=allowed; else echo write=refused; fi
    if (: > /run/broker/planted) 2>/dev/null; then echo create=allowed; else echo create=refused; fi
    node -e 'require("net").connect(${port}, "127.0.0.1").on("connect", () => { console.log("net=connected"); process.exit(0) }).on("error", (e) => console.log("net=" + e.code))'
  `;

  it("shows the policy's env through the read-only session files and nothing of the operator's HOME", async () => {
    const cmd = inBrokerSandbox({ at: "/run/broker" }, ["sh", "-c", probe()]);
    const result = await f.d.cli(["run", "--no-sandbox", "--task", "agent", "--sandbox-tmp", "--sandbox-path", "/run/broker", "--no-env", "--", ...cmd], { timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
    const seen = report(result.stdout);
    expect(seen.home).toBe("/home/agent");
    expect(seen.home_entries).toBe("[]");
    expect(seen.operator_home).toBe("[absent]");
    expect(result.stdout).not.toContain(marker);
    expect(seen.files).toBe("[env session.json ]");
    expect(seen.modes).toBe("[600 600 ]");
    expect(seen.task_before).toBe(""); // a cleared environment: only the files say anything
    expect(seen.task).toBe("agent");
    expect(seen.sandbox_dir).toBe("/run/broker");
    expect(seen.demo_sha).toBe(sha256(f.demo));
    expect(seen.other_sha).toBe(sha256(f.other));
    expect(seen.write).toBe("refused");
    expect(seen.create).toBe("refused");
    expect(seen.net).toBe("ECONNREFUSED"); // its own loopback only: the host's listener is not there
    expect(connections).toBe(0);
    expect(await f.d.client.listSessions()).toEqual([]);
  });

  it("(control) the same probe reaches the host's listener when the network is shared", async () => {
    const cmd = inBrokerSandbox({ at: "/run/broker", network: true }, ["sh", "-c", probe()]);
    const result = await f.d.cli(["run", "--no-sandbox", "--task", "agent", "--sandbox-tmp", "--sandbox-path", "/run/broker", "--no-env", "--", ...cmd], { timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(report(result.stdout).net).toBe("connected");
    expect(connections).toBe(1);
  });

  it("removes the --sandbox-tmp directory it bound once CMD has exited", async () => {
    const cmd = inBrokerSandbox({ at: "/run/broker" }, ["sh", "-c", "cat /run/broker/session.json"]);
    const result = await f.d.cli(["run", "--no-sandbox", "--task", "agent", "--sandbox-tmp", "--sandbox-path", "/run/broker", "--", "sh", "-c", 'echo "host_dir=$BROKER_SANDBOX_DIR"; exec "$@"', "sh", ...cmd]);
    expect(result.code, result.stderr).toBe(0);
    const hostDir = report(result.stdout).host_dir!;
    expect(result.stdout).toContain('"task": "agent"');
    expect(existsSync(hostDir)).toBe(false);
  });
});
