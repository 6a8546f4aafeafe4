/**
 * 6. Peer: `broker run` injecting a task's environment against `dotenvx run` injecting the same
 * variables from a .env file, around the same command, interleaved in the same run.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { broker, REPO, runChecked, type BenchRoot } from "./fixture.js";
import type { Report } from "./report.js";
import { versus } from "./report.js";
import { interleave, median } from "./stats.js";
import { TASK, type BenchTasks } from "./tasks.js";

const SECTION = "6 peer";
const DOTENVX = join(REPO, "node_modules", "@dotenvx", "dotenvx", "src", "cli", "dotenvx.js");

export async function benchPeer(root: BenchRoot, tasks: BenchTasks, report: Report, rounds: number): Promise<void> {
  const envFile = join(root.path, "peer.env");
  writeFileSync(envFile, Object.entries(tasks.staticEnv).map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
  const dotenvx = (command: string[]) => runChecked(process.execPath, [DOTENVX, "run", "-f", envFile, "--", ...command], { env: root.env });
  const brokerRun = (command: string[]) => broker(root, ["run", "--task", TASK.static, "--", ...command]);

  // Both must really inject the variables before their speed means anything.
  const [name, value] = Object.entries(tasks.staticEnv)[0]!;
  const check = ["sh", "-c", `test "$${name}" = "${value}"`];
  brokerRun(check);
  dotenvx(check);

  const times = await interleave({ broker: () => brokerRun(["true"]), dotenvx: () => dotenvx(["true"]) }, rounds);
  const brokerMs = median(times.broker);
  const dotenvxMs = median(times.dotenvx);
  report.add(
    versus({
      section: SECTION,
      measure: `broker run --task ${TASK.static} -- true (${Object.keys(tasks.staticEnv).length} vars)`,
      value: brokerMs,
      unit: "ms",
      against: { measure: "dotenvx run -f .env -- true", value: dotenvxMs, unit: "ms" },
      target: "faster than dotenvx run",
      met: brokerMs < dotenvxMs,
      detail: { broker: times.broker, dotenvx: times.dotenvx },
    }),
  );
}
