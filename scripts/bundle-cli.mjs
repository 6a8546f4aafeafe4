/**
 * Bundles the CLI (tsc's dist/cli/bin.js and what it imports from dist/) into CommonJS files
 * under dist/bin/: `broker.cjs`, the entry, and one chunk per command, each loaded only when its
 * command runs. Node starts a CommonJS file of one module sooner than an ES module graph of a
 * dozen (the ES loader's resolve/link/evaluate jobs cost about 10 ms per run on a small machine).
 * Packages from node_modules stay outside the bundle and are loaded as before: the heavy ones
 * (fastify, the AWS SDK, Octokit, jose) only by the daemon and the secret store, via import().
 *
 * usage: node scripts/bundle-cli.mjs   (after `tsc -p tsconfig.build.json`)
 */
import { chmodSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const out = `${dist}bin`;
const staging = `${dist}.bin-${process.pid}`;

rmSync(staging, { recursive: true, force: true });
await build({
  input: { broker: `${dist}cli/bin.js` },
  platform: "node",
  // Bare specifiers (packages, node: builtins) are loaded at run time, not copied in.
  external: (id) => !id.startsWith(".") && !id.startsWith("/"),
  logLevel: "warn",
  output: {
    dir: staging,
    format: "cjs",
    entryFileNames: "[name].cjs",
    chunkFileNames: "[name]-[hash].cjs",
  },
});
chmodSync(`${staging}/broker.cjs`, 0o755);

// Moved in file by file, each by rename: a broker starting (or a daemon loading a command's
// chunk) meanwhile sees old or new files, never a half-written one. Chunks are named by content,
// so rebuilding unchanged code changes nothing; the entry goes last, after the chunks it names.
mkdirSync(out, { recursive: true });
const built = readdirSync(staging);
for (const file of [...built.filter((f) => f !== "broker.cjs"), "broker.cjs"]) renameSync(`${staging}/${file}`, `${out}/${file}`);
for (const file of readdirSync(out)) if (!built.includes(file)) rmSync(`${out}/${file}`, { force: true });
rmSync(staging, { recursive: true, force: true });
