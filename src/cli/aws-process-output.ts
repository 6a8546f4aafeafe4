/** The JSON an AWS `credential_process` prints. */
import type { SessionCredentials } from "../client/broker-client.js";
import { BrokerError } from "../errors.js";

export function credentialProcessOutput(credentials: SessionCredentials, task: string): string {
  const aws = credentials.aws;
  if (!aws) {
    throw new BrokerError("ERR_POLICY_DENIED", `task "${task}" gives no AWS credentials`, { fix: "add an aws: block to its policy, or use a task that has one" });
  }
  return JSON.stringify({ Version: 1, AccessKeyId: aws.accessKeyId, SecretAccessKey: aws.secretAccessKey, SessionToken: aws.sessionToken, Expiration: aws.expiration });
}
