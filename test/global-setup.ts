import { spawnSync } from "node:child_process";

/** Tests drive the real, built CLI (the bundle `dist/bin/broker.cjs`), so build once before any test runs. */
export default function setup(): void {
  const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { encoding: "utf8" });
  // tsc still emits when it finds type errors; those fail `npm run typecheck`, not every test.
  if (tsc.status !== 0) process.stderr.write(`build reported problems:\n${tsc.stdout}${tsc.stderr}\n`);
  const bundle = spawnSync(process.execPath, ["scripts/bundle-cli.mjs"], { encoding: "utf8" });
  if (bundle.status !== 0) throw new Error(`bundling the CLI failed:\n${bundle.stdout}${bundle.stderr}`);
}
