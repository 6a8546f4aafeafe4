/**
 * Parses and validates one policy file (docs/interface.md, "Policies"). Every problem is reported
 * with the line of its key, so `broker policy check` can print `file:line: field: problem`
 * for all of them at once; nothing here throws on bad input.
 */
import { basename, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import type { Document } from "yaml";
import { formatDuration } from "../util/duration.js";
import { readApproval } from "./approval-rules.js";
import { readAws, STS_MAX_SESSION_SECONDS } from "./aws-rules.js";
import { checkMintsCoverSession, readBudget, readOverBudget } from "./budget-rules.js";
import { readEgress } from "./egress-rules.js";
import { readEnv } from "./env-rules.js";
import { duration, integer, text } from "./field-checks.js";
import { readGithub } from "./github-rules.js";
import { readOnLeak } from "./inject-rules.js";
import { readSandbox } from "./sandbox-rules.js";
import { TASK_NAME } from "./types.js";
import type { Policy, PolicyProblem } from "./types.js";
import type { At, Rules, Walk } from "./yaml-reader.js";
import { lineOf, readFields, report, ROOT_FIELD } from "./yaml-reader.js";

export const DEFAULT_TTL_SECONDS = 15 * 60;
export const DEFAULT_MAX_TTL_SECONDS = 60 * 60;
export const DEFAULT_MAX_SESSIONS = 16;
export const MAX_SESSIONS_LIMIT = 10_000;
/** No session outlives a week: keeps every TTL timer far below setTimeout's 24.8-day ceiling. */
export const MAX_TTL_LIMIT_SECONDS = 7 * 86_400;
/** Field path of YAML syntax errors. */
export const SYNTAX_FIELD = "(yaml)";

export const TOP_LEVEL_RULES = {
  task: {
    required: true,
    check: text({ pattern: TASK_NAME, max: 63, shape: "a task name: a lowercase letter or digit, then lowercase letters, digits or '-' (up to 63)" }),
  },
  description: { check: text({ min: 0, max: 1024 }) },
  ttl: { check: duration(1, MAX_TTL_LIMIT_SECONDS) },
  max_ttl: { check: duration(1, MAX_TTL_LIMIT_SECONDS) },
  max_sessions: { check: integer(1, MAX_SESSIONS_LIMIT) },
  aws: { check: readAws },
  github: { check: readGithub },
  env: { check: readEnv },
  sandbox: { check: readSandbox },
  egress: { check: readEgress },
  approval: { check: readApproval },
  on_env_expiry: { check: text({ shape: "warn or refuse", explain: (v) => (v === "warn" || v === "refuse" ? undefined : `must be warn or refuse, found "${v}"`) }) },
  budget: { check: readBudget },
  over_budget: { check: readOverBudget },
  on_leak: { check: readOnLeak },
} satisfies Rules;

/** The task name a file must declare: its base name without `.yaml`/`.yml`. */
export function taskNameOf(file: string): string {
  return basename(file).replace(/\.ya?ml$/i, "");
}

/** Control characters (a newline inside a quoted key, say) are shown escaped: one problem, one line. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const oneLine = (text: string): string => text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

export function formatProblem(p: PolicyProblem): string {
  return `${oneLine(p.file)}:${p.line}: ${oneLine(p.field)}: ${oneLine(p.problem)}`;
}

export function parsePolicy(file: string, text: string): { policy?: Policy; problems: PolicyProblem[] } {
  const lines = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  } catch (error) {
    return { problems: [{ file, line: 1, field: SYNTAX_FIELD, problem: `cannot be parsed: ${(error as Error).message}` }] };
  }
  const syntax = [...doc.errors, ...doc.warnings].map((e) => ({
    file,
    line: lines.linePos(e.pos[0]).line,
    field: SYNTAX_FIELD,
    problem: (e.message.split("\n")[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, ""),
  }));
  if (syntax.length > 0) return { problems: byLine(syntax) };

  const walk: Walk = { file, doc, lines, problems: [], aliases: 0 };
  const root: At = { field: ROOT_FIELD, line: lineOf(walk, doc.contents, 1) };
  if (doc.contents === null) {
    report(walk, root, "the file is empty; a policy starts with task: NAME");
    return { problems: walk.problems };
  }
  const read = readFields(walk, doc.contents, root, TOP_LEVEL_RULES);
  if (!read) return { problems: byLine(walk.problems) };
  const { values, at } = read;

  const expected = taskNameOf(file);
  if (values.task !== undefined && values.task !== expected && at.task) {
    report(walk, at.task, `is "${values.task}" but must equal the file's name, "${expected}" (from ${basename(file)})`);
  }
  // egress alone is a grant too: a task whose box needs only the network (an npm install, say).
  if (!at.aws && !at.github && !at.env && !at.egress) {
    report(walk, root, "grants nothing: add at least one of aws, github, env or egress");
  }
  const maxTtlSeconds = values.max_ttl ?? DEFAULT_MAX_TTL_SECONDS;
  const ttlSeconds = values.ttl ?? Math.min(DEFAULT_TTL_SECONDS, maxTtlSeconds);
  if (at.ttl && ttlSeconds > maxTtlSeconds && (values.max_ttl !== undefined || !at.max_ttl)) {
    const which = at.max_ttl ? "" : " (the default; set max_ttl to allow more)";
    report(walk, at.ttl, `${formatDuration(ttlSeconds)} is above max_ttl ${formatDuration(maxTtlSeconds)}${which}`);
  }
  if (at.aws && maxTtlSeconds > STS_MAX_SESSION_SECONDS) {
    report(
      walk,
      at.max_ttl ?? at.aws,
      `${formatDuration(maxTtlSeconds)} is longer than an AWS STS role session can last (12h, DurationSeconds ${STS_MAX_SESSION_SECONDS}); lower max_ttl`,
    );
  }
  checkMintsCoverSession(walk, at.budget, values.budget, [...(at.aws ? ["aws"] : []), ...(at.github ? ["github"] : []), ...(at.env ? ["env"] : [])]);
  if (walk.problems.length > 0 || values.task === undefined) return { problems: byLine(walk.problems) };

  const policy: Policy = {
    task: values.task,
    ...(values.description !== undefined ? { description: values.description } : {}),
    ttlSeconds,
    maxTtlSeconds,
    maxSessions: values.max_sessions ?? DEFAULT_MAX_SESSIONS,
    ...(values.aws ? { aws: values.aws } : {}),
    ...(values.github ? { github: values.github } : {}),
    env: values.env ?? {},
    sandbox: values.sandbox ?? { write: [], hide: [], passEnv: [] },
    // Absent stays absent: it means "the task's own credential hosts", unlike an empty list.
    ...(values.egress ? { egress: values.egress } : {}),
    ...(values.on_env_expiry === "refuse" ? { onEnvExpiry: "refuse" as const } : {}),
    ...(values.budget ? { budget: values.budget } : {}),
    ...(values.over_budget ? { overBudget: values.over_budget } : {}),
    ...(values.approval ? { approval: values.approval } : {}),
    ...(values.on_leak ? { onLeak: values.on_leak } : {}),
    file: resolve(file),
  };
  // Frozen: every session's plan shares the policy's parts instead of copying them.
  return { policy: deepFreeze(policy), problems: [] };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Problems in file order; a stable sort keeps a line's problems in the order they were found. */
function byLine(problems: PolicyProblem[]): PolicyProblem[] {
  return [...problems].sort((a, b) => a.line - b.line);
}
