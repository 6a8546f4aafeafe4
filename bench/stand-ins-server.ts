/**
 * The STS and GitHub stand-ins (test/stubs) in a process of their own, as the real services are
 * elsewhere: a direct SDK call and the daemon's call then cross the same process boundary.
 * Prints one JSON line (URLs, the root AWS key and the GitHub App key it made) once listening;
 * stops on SIGTERM or when its stdin closes (the bench is gone).
 *
 * usage: node stand-ins-server.js
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { startGithubStub } from "../test/stubs/github-stub.js";
import { startStsStub } from "../test/stubs/sts-stub.js";
import { APP_ID, INSTALLATION_ID, OWNER, REGION, ROLE_ARN, type StandIns } from "./stand-ins.js";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

const awsKey = {
  accessKeyId: `AKIA${Array.from(randomBytes(16), (b) => BASE32[b % 32]).join("")}`,
  secretAccessKey: randomBytes(30).toString("base64").slice(0, 40),
};
const sts = await startStsStub({ region: REGION, roles: { [ROLE_ARN]: {} } });
sts.addRootKey(awsKey.accessKeyId, awsKey.secretAccessKey, { userName: "bench" });

const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const github = await startGithubStub({
  appId: APP_ID,
  publicKey: keys.publicKey,
  installations: [{ id: INSTALLATION_ID, account: { login: OWNER, type: "Organization" }, repositories: ["reports", "website"], permissions: { contents: "write", metadata: "read" } }],
});
const app = { appId: String(APP_ID), privateKey: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString() };

// The stubs record every call; the bench makes a few hundred, so that stays small.
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void Promise.all([sts.close(), github.close()]).finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.stdin.on("end", stop).resume();

const answer: StandIns = { stsUrl: sts.url, githubUrl: github.url, awsKey, app };
process.stdout.write(`${JSON.stringify(answer)}\n`);
