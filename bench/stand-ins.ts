/**
 * The STS and GitHub stand-ins (test/stubs), started in the bench's own process on 127.0.0.1,
 * with a root AWS key and a GitHub App key generated now.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { startGithubStub, type GithubStub } from "../test/stubs/github-stub.js";
import { startStsStub, type StsStub } from "../test/stubs/sts-stub.js";
import type { Cleanups } from "./fixture.js";

export const ROLE_ARN = "arn:aws:iam::111122223333:role/bench-reader";
export const REGION = "us-east-1";
export const APP_ID = 4242;
export const INSTALLATION_ID = 7;
export const OWNER = "acme";

export interface StandIns {
  sts: StsStub;
  github: GithubStub;
  awsKey: { accessKeyId: string; secretAccessKey: string };
  app: { appId: string; privateKey: string };
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export async function startStandIns(cleanups: Cleanups): Promise<StandIns> {
  const awsKey = {
    accessKeyId: `AKIA${Array.from(randomBytes(16), (b) => BASE32[b % 32]).join("")}`,
    secretAccessKey: randomBytes(30).toString("base64").slice(0, 40),
  };
  const sts = await startStsStub({ region: REGION, roles: { [ROLE_ARN]: {} } });
  cleanups.add(() => sts.close());
  sts.addRootKey(awsKey.accessKeyId, awsKey.secretAccessKey, { userName: "bench" });

  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const github = await startGithubStub({
    appId: APP_ID,
    publicKey: keys.publicKey,
    installations: [{ id: INSTALLATION_ID, account: { login: OWNER, type: "Organization" }, repositories: ["reports", "website"], permissions: { contents: "write", metadata: "read" } }],
  });
  cleanups.add(() => github.close());
  const app = { appId: String(APP_ID), privateKey: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
  return { sts, github, awsKey, app };
}
