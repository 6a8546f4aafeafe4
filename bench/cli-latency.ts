/**
 * 1. CLI latency: `broker --version`, `broker mint` against a warm daemon and `broker run -- true`
 * (confined, the default, and --no-sandbox),
 * each against `node -e 0` (the floor for any Node CLI), interleaved in the same run.
 */
import { broker, runChecked, type BenchRoot, type Daemon } from "./fixture.js";
import type { Report } from "./report.js";
import { versus } from "./report.js";
import { interleave, median } from "./stats.js";
import { TASK } from "./tasks.js";

const SECTION = "1 CLI latency";

export async function benchCliLatency(root: BenchRoot, daemon: Daemon, report: Report, rounds: number): Promise<void> {
  const times = await interleave(
    {
      node: () => runChecked(process.execPath, ["-e", "0"]),
      version: () => broker(root, ["--version"]),
      // A short TTL: these sessions are also revoked below, but must not outlive the bench either way.
      mint: () => broker(root, ["mint", "--task", TASK.static, "--ttl", "120"]),
      run: () => broker(root, ["run", "--task", TASK.static, "--", "true"]),
      unconfined: () => broker(root, ["run", "--task", TASK.static, "--no-sandbox", "--", "true"]),
    },
    rounds,
  );
  const node = median(times.node);
  const against = { measure: "node -e 0", value: node, unit: "ms" };
  report.add({ section: SECTION, measure: "node -e 0 (floor)", value: node, unit: "ms", detail: { runs: times.node } });
  report.add(versus({ section: SECTION, measure: "broker --version", value: median(times.version), unit: "ms", against, detail: { runs: times.version } }));
  const mint = median(times.mint);
  report.add(
    versus({ section: SECTION, measure: `broker mint --task ${TASK.static} (warm daemon)`, value: mint, unit: "ms", against, target: "≤ 1.3× node -e 0", met: mint <= 1.3 * node, detail: { runs: times.mint } }),
  );
  const run = median(times.run);
  report.add(
    versus({ section: SECTION, measure: `broker run --task ${TASK.static} -- true (confined: bwrap box + proxy bridge)`, value: run, unit: "ms", against, target: "≤ 1.5× node -e 0", met: run <= 1.5 * node, detail: { runs: times.run } }),
  );
  report.add(versus({ section: SECTION, measure: `broker run --task ${TASK.static} --no-sandbox -- true`, value: median(times.unconfined), unit: "ms", against, detail: { runs: times.unconfined } }));

  for (const s of await daemon.client.listSessions()) await daemon.client.closeSession(s.id).catch(() => undefined);
}
