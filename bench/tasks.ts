/** The bench's policies and the secrets they draw on, written into the bench root before the daemon starts. */
import type { StoredSecret } from "../src/store/secret-store.js";
import { seedFileStore, tokenValue, writePolicy, type BenchRoot } from "./fixture.js";
import { OWNER, REGION, ROLE_ARN, type StandIns } from "./stand-ins.js";

export const TASK = { static: "bench-static", scale: "bench-scale", mask: "bench-mask", sts: "bench-sts", github: "bench-gh" } as const;
/** The policy limit (src/policy/validate-policy.ts MAX_SESSIONS_LIMIT). */
export const SCALE_SESSIONS = 10_000;
export const MASK_SECRETS = 50;

export interface BenchTasks {
  /** STATIC_TOKEN_n → value: what bench-static puts in a session's environment. */
  staticEnv: Record<string, string>;
  /** The 50 values bench-mask's sessions hold. */
  maskValues: string[];
}

function envTask(task: string, entries: Array<[string, string]>, maxSessions: number): string {
  const env = entries.map(([variable, secret]) => `  ${variable}: { secret: ${secret} }`).join("\n");
  return `task: ${task}\ndescription: bench\nttl: 10m\nmax_ttl: 1h\nmax_sessions: ${maxSessions}\nenv:\n${env}\n`;
}

export async function setUpTasks(root: BenchRoot, standIns: StandIns, extraGeneric?: [name: string, value: string]): Promise<BenchTasks> {
  const secrets: Record<string, StoredSecret> = {};
  if (extraGeneric) secrets[extraGeneric[0]] = { type: "generic", value: extraGeneric[1] };
  const generic = (name: string): string => {
    const value = tokenValue();
    secrets[name] = { type: "generic", value };
    return value;
  };

  const staticEnv: Record<string, string> = {};
  const staticEntries: Array<[string, string]> = [];
  for (let i = 1; i <= 3; i++) {
    staticEnv[`STATIC_TOKEN_${i}`] = generic(`static-${i}`);
    staticEntries.push([`STATIC_TOKEN_${i}`, `static-${i}`]);
  }
  writePolicy(root, TASK.static, envTask(TASK.static, staticEntries, SCALE_SESSIONS));
  generic("scale-1");
  writePolicy(root, TASK.scale, envTask(TASK.scale, [["SCALE_TOKEN", "scale-1"]], SCALE_SESSIONS));

  const maskValues: string[] = [];
  const maskEntries: Array<[string, string]> = [];
  for (let i = 1; i <= MASK_SECRETS; i++) {
    const name = `mask-${String(i).padStart(2, "0")}`;
    maskValues.push(generic(name));
    maskEntries.push([`MASK_TOKEN_${i}`, name]);
  }
  writePolicy(root, TASK.mask, envTask(TASK.mask, maskEntries, 16));

  secrets["bench-aws"] = { type: "aws", value: JSON.stringify(standIns.awsKey) };
  writePolicy(
    root,
    TASK.sts,
    `task: ${TASK.sts}\nttl: 15m\nmax_ttl: 1h\nmax_sessions: 200\naws:\n  source: bench-aws\n  role_arn: ${ROLE_ARN}\n  region: ${REGION}\n  endpoint: ${standIns.stsUrl}\n`,
  );
  secrets["bench-app"] = { type: "github-app", value: JSON.stringify(standIns.app) };
  writePolicy(
    root,
    TASK.github,
    `task: ${TASK.github}\nttl: 10m\nmax_ttl: 1h\nmax_sessions: 200\ngithub:\n  app: bench-app\n  api_url: ${standIns.githubUrl}\n  owner: ${OWNER}\n  repositories: [reports]\n  permissions: { contents: read }\n`,
  );

  await seedFileStore(root, secrets);
  return { staticEnv, maskValues };
}
