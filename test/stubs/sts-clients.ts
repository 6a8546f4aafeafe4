/**
 * Real clients pointed at the STS stand-in, for tests: the JS SDK's STSClient and the AWS CLI.
 * Both sign with SigV4 themselves, which is the point: the stub verifies what they send.
 */
import { execFile } from "node:child_process";
import { STSClient } from "@aws-sdk/client-sts";

export interface KeyPair {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** One attempt, no retries: tests see exactly what the stub answered. */
export function stubClient(url: string, credentials: KeyPair, region = "us-east-1"): STSClient {
  return new STSClient({ region, endpoint: url, credentials, maxAttempts: 1 });
}

/** Where the AWS CLI is, or null (tests that need it are skipped, saying why). */
export async function findAwsCli(): Promise<string | null> {
  const found = await runCommand("sh", ["-c", "command -v aws"], process.env);
  return found.code === 0 && found.stdout.trim() !== "" ? found.stdout.trim() : null;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCommand(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs `aws ARGS --endpoint-url URL` with only the given AWS_* variables: the operator's own
 * profile, config files and credentials are kept out, and the CLI does not retry.
 */
export function runAwsCli(url: string, args: string[], awsEnv: Record<string, string>): Promise<CommandResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("AWS_")) env[name] = value;
  Object.assign(env, {
    AWS_CONFIG_FILE: "/nonexistent/broker-test/config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/broker-test/credentials",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_MAX_ATTEMPTS: "1",
    AWS_RETRY_MODE: "standard",
    ...awsEnv,
  });
  return runCommand("aws", ["--endpoint-url", url, "--output", "json", ...args], env);
}
