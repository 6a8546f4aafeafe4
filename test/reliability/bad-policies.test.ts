/**
 * Bad policy files: thousands of generated malformed policies go through the validator directly,
 * and 1,000 more through `broker policy check` in batches of 100 files. Every file gets at least
 * one `file:line: field: problem` line, nothing throws, and the CLI never prints a stack.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { formatProblem, parsePolicy } from "../../src/policy/validate-policy.js";
import { CLI } from "../helpers/cli.js";
import { recordArgv, recordCreated, recordFigure, recordText } from "./support/evidence.js";
import { malformedPolicy, notUtf8, validPolicy } from "./support/policy-arbitraries.js";
import { stringify } from "yaml";

const DIRECT_RUNS = 2_000;
const CLI_BATCHES = 10;
const BATCH = 100;
const LINE = /^[^\n]+:\d+: [^\n]+: [^\n]+$/;
const STACK = /\n\s+at |\bError:|ERR_INTERNAL/;

describe("malformed policy files", () => {
  const tmp = tempDir("broker-rel-policies-");
  recordCreated("dir", tmp.path);
  const figures = { direct: 0, directMs: 0, cli: 0, cliFiles: 0, lines: 0, maxMs: 0 };
  afterAll(() => {
    tmp.cleanup();
    const area = "Bad input";
    recordFigure(area, `malformed policies through the validator (fast-check; ${(figures.directMs / 1000).toFixed(1)} s)`, `${figures.direct} files, each with ≥ 1 problem line, 0 throws`, "≥ 1,000", figures.direct >= 1_000);
    recordFigure(area, `malformed policies through \`broker policy check\` (${CLI_BATCHES} runs × ${BATCH} files)`, `${figures.cliFiles} files, ${figures.lines} problem lines, exit 1, 0 stacks; slowest run ${Math.round(figures.maxMs)} ms`, "≥ 1,000 files, every file named", figures.cliFiles >= 1_000);
  });

  it("accepts the unmutated base policies (the control: the defects are what is reported)", () => {
    fc.assert(
      fc.property(validPolicy("base-policy"), (policy) => {
        const { policy: parsed, problems } = parsePolicy("/p/base-policy.yaml", stringify(policy));
        expect(problems).toEqual([]);
        expect(parsed?.task).toBe("base-policy");
      }),
      { numRuns: 200 },
    );
  });

  it(`reports every one of ${DIRECT_RUNS} malformed policies as file:line: field: problem, never throwing`, () => {
    const started = performance.now();
    fc.assert(
      fc.property(malformedPolicy("fuzzed-task"), (text) => {
        const file = "/policies/fuzzed-task.yaml";
        const { policy, problems } = parsePolicy(file, text);
        figures.direct += 1;
        expect(policy, text.slice(0, 500)).toBeUndefined();
        expect(problems.length, text.slice(0, 500)).toBeGreaterThan(0);
        const lines = text.split(/\r\n|\r|\n/).length;
        for (const p of problems) {
          expect(p.file).toBe(file);
          expect(Number.isInteger(p.line) && p.line >= 1 && p.line <= lines + 1, `line ${p.line} of ${lines}`).toBe(true);
          expect(formatProblem(p), JSON.stringify(p)).toMatch(LINE);
        }
      }),
      { numRuns: DIRECT_RUNS },
    );
    figures.directMs = performance.now() - started;
  });

  it(`names every file of ${CLI_BATCHES * BATCH} malformed ones in \`broker policy check\`, with no stack`, async () => {
    const names = Array.from({ length: BATCH }, (_, i) => `p-${i}`);
    const batch = fc.tuple(...names.map((n, i) => (i % 25 === 24 ? notUtf8 : malformedPolicy(n))));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(batch, async (texts) => {
        const dir = join(tmp.path, `batch-${run++}`);
        mkdirSync(dir);
        texts.forEach((text, i) => writeFileSync(join(dir, `${names[i]}.yaml`), text));
        const argv = ["policy", "check", dir];
        recordArgv([process.execPath, CLI, ...argv]);
        const started = performance.now();
        const result = await runCli(argv, { timeoutMs: 60_000 });
        figures.maxMs = Math.max(figures.maxMs, performance.now() - started);
        recordText("policy-check-stderr", result.stderr);
        expect(result.code, result.stderr).toBe(1);
        expect(result.stderr).toBe("");
        expect(result.stdout).not.toMatch(STACK);
        const lines = result.stdout.trimEnd().split("\n");
        for (const line of lines) expect(line.startsWith(`${dir}/`) && LINE.test(line), line.slice(0, 300)).toBe(true);
        const named = new Set(lines.map((l) => l.slice(dir.length + 1).split(":")[0]));
        expect([...named].sort()).toEqual(readdirSync(dir).sort());
        figures.cli += 1;
        figures.cliFiles += texts.length;
        figures.lines += lines.length;
      }),
      { numRuns: CLI_BATCHES, endOnFailure: true },
    );
  });
});
