/**
 * The STS and GitHub stand-ins, started in a child process (stand-ins-server.ts) and stopped with
 * the bench; what they answer to is fixed here, the keys are made fresh each run.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { stopper, type Cleanups } from "./fixture.js";

export const ROLE_ARN = "arn:aws:iam::111122223333:role/bench-reader";
export const REGION = "us-east-1";
export const APP_ID = 4242;
export const INSTALLATION_ID = 7;
export const OWNER = "acme";

export interface StandIns {
  stsUrl: string;
  githubUrl: string;
  awsKey: { accessKeyId: string; secretAccessKey: string };
  app: { appId: string; privateKey: string };
}

const SERVER = fileURLToPath(new URL("./stand-ins-server.js", import.meta.url));

export async function startStandIns(cleanups: Cleanups): Promise<StandIns> {
  const proc = spawn(process.execPath, [SERVER], { stdio: ["pipe", "pipe", "inherit"] });
  cleanups.add(stopper(proc, 5_000));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the stand-ins did not start within 20 s")), 20_000);
    let text = "";
    proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
      text += d;
      if (!text.includes("\n")) return;
      clearTimeout(timer);
      resolve(JSON.parse(text.slice(0, text.indexOf("\n"))) as StandIns);
    });
    proc.once("exit", (code) => reject(new Error(`the stand-ins exited with ${code}`)));
  });
}
