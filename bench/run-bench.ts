/**
 * `npm run bench`: the broker's performance on this machine against side-by-side references,
 * printed as a table and written to bench/results/latest.json. Every figure is a median over
 * repeated runs; targets are reported as pass/SHORT and never fail the run.
 *
 * Flags (for working on the bench itself): --quick (fewer rounds, a 64 MiB masking file),
 * --only 1,3 (sections to run).
 */
import { join } from "node:path";
import { benchCliLatency } from "./cli-latency.js";
import { benchEgress, startEgressTarget, writeEgressPolicy } from "./egress.js";
import { Cleanups, makeRoot, REPO, startDaemon } from "./fixture.js";
import { benchInjection, prepareInjection } from "./injection.js";
import { benchMasking } from "./masking.js";
import { benchPeer } from "./peer.js";
import { Report } from "./report.js";
import { benchScale } from "./scale.js";
import { startStandIns } from "./stand-ins.js";
import { since } from "./stats.js";
import { setUpTasks, TASK } from "./tasks.js";
import { benchThroughput } from "./throughput.js";
import { benchUpstream } from "./upstream.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyArg = args[args.indexOf("--only") + 1];
const only = args.includes("--only") && onlyArg ? new Set(onlyArg.split(",")) : null;
const wants = (section: string) => only === null || only.has(section);
const log = (text: string) => process.stderr.write(`bench: ${text}\n`);

async function main(): Promise<number> {
  const started = performance.now();
  // A machine-wide CA bundle for Node (some CI images set one) adds a fixed cost to every Node
  // start, `node -e 0` included, which would flatter every ratio against it: measured without.
  if (process.env.NODE_EXTRA_CA_CERTS !== undefined) {
    delete process.env.NODE_EXTRA_CA_CERTS;
    log("NODE_EXTRA_CA_CERTS is not passed to the processes measured");
  }
  const cleanups = new Cleanups();
  const report = new Report();
  let failed: unknown = null;
  const stopOnSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    void cleanups.runAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    const standIns = await startStandIns(cleanups);
    const root = makeRoot(cleanups);
    const injection = await prepareInjection(root, cleanups);
    const tasks = await setUpTasks(root, standIns, injection.secret);
    const egressTarget = await startEgressTarget(cleanups);
    writeEgressPolicy(root, egressTarget);
    const daemon = await startDaemon(root, cleanups);
    log(`daemon pid ${daemon.pid} on ${root.socket} (file store, state in ${root.stateDir})`);
    // Warm: the first session of a task loads what later ones reuse.
    for (const task of [TASK.static, TASK.scale]) await daemon.client.closeSession((await daemon.client.openSession({ task })).id);

    // Lighter sections first, the 10,000-session one last; the table is in section order.
    if (wants("1")) {
      log("1. CLI latency");
      await benchCliLatency(root, daemon, report, quick ? 5 : 30);
    }
    if (wants("6")) {
      log("6. peer: broker run vs dotenvx run");
      await benchPeer(root, tasks, report, quick ? 5 : 20);
    }
    if (wants("2")) {
      log("2. daemon throughput and latency");
      await benchThroughput(root, daemon, report, cleanups, { rounds: quick ? 1 : 3, seconds: quick ? 1 : 2.5 });
    }
    if (wants("3")) {
      log("3. broker overhead per upstream mint");
      await benchUpstream(root, standIns, report, quick ? 10 : 40);
    }
    if (wants("5")) {
      log("5. masking");
      await benchMasking(root, tasks, report, cleanups, { mebibytes: quick ? 64 : 1024, rounds: quick ? 1 : 3 });
    }
    if (wants("7")) {
      log("7. egress proxy");
      await benchEgress(daemon, egressTarget, report, { rounds: quick ? 1 : 5, mib: quick ? 32 : 128 });
    }
    if (wants("8")) {
      log("8. credential injection");
      await benchInjection(root, daemon, injection, report, cleanups, { rounds: quick ? 1 : 3, requests: quick ? 500 : 1000, mib: quick ? 16 : 64 });
    }
    if (wants("4")) {
      log("4. scale: 10,000 sessions");
      await benchScale(root, daemon, report);
    }
  } catch (error) {
    failed = error;
  } finally {
    log("cleaning up");
    await cleanups.runAll();
  }
  report.rows.sort((a, b) => a.section.localeCompare(b.section));
  const seconds = since(started) / 1000;
  report.note(`medians over repeated runs; MB = 10^6 bytes; bench took ${seconds.toFixed(0)} s`);
  process.stdout.write(`\n${report.table()}\n`);
  const out = join(REPO, "bench", "results", "latest.json");
  report.write(out, { quick, only: only ? [...only] : null, error: failed ? String(failed) : null });
  process.stdout.write(`\nwritten: ${out}\n`);
  if (failed) {
    process.stderr.write(`bench failed: ${failed instanceof Error ? (failed.stack ?? failed.message) : String(failed)}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${String(error)}\n`);
    process.exit(1);
  },
);
