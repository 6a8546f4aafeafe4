/** What `mint`, `run` and `credential-process` say on stderr while their open waits for a person's approval. */
import type { OpenWaitOptions } from "../client/broker-client.js";

export function approvalNotice(stderr: NodeJS.WritableStream): OpenWaitOptions {
  return { onPending: (id) => void stderr.write(`waiting for approval: broker approve ${id}\n`) };
}

/** BROKER_SESSION, when the request comes from inside a session: the daemon shows it to the approver if it is live. */
export function parentOf(env: NodeJS.ProcessEnv): { parent?: string } {
  const id = env.BROKER_SESSION;
  return id && id.length <= 64 ? { parent: id } : {};
}
