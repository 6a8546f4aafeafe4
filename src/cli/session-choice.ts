/**
 * Which session `credential-process` and `git-credential` answer for. An explicit `--task` wins
 * over an inherited BROKER_SESSION: after `eval "$(broker mint --task openai --format env)"`,
 * `--task report` must not answer for the openai session. BROKER_SESSION is used when there is
 * no `--task`, or when it is a session of that very task.
 */
import type { BrokerClient } from "../client/broker-client.js";
import { BrokerError } from "../errors.js";

export type SessionChoice =
  | { kind: "session"; id: string }
  /** Open (or find) a session of `task`; `inherited` is a BROKER_SESSION of another task, for the error if that fails. */
  | { kind: "task"; task: string; inherited?: { id: string; task: string } };

export async function chooseSession(client: BrokerClient, env: NodeJS.ProcessEnv, task: string | undefined): Promise<SessionChoice | null> {
  const id = env.BROKER_SESSION || undefined;
  if (!task) return id ? { kind: "session", id } : null;
  if (!id) return { kind: "task", task };
  const own = await client.sessionTask(id).catch(() => null);
  if (own === task) return { kind: "session", id };
  return { kind: "task", task, ...(own ? { inherited: { id, task: own } } : {}) };
}

/** Names the inherited session in an error of the explicit task's path, so the mix-up is plain. */
export function withInherited(error: unknown, choice: SessionChoice): unknown {
  if (choice.kind !== "task" || !choice.inherited || !(error instanceof BrokerError)) return error;
  const { id, task } = choice.inherited;
  return new BrokerError(error.code, `${error.message} (BROKER_SESSION is session ${id} of task "${task}", not "${choice.task}", so it was not used)`, {
    fix: error.fix ?? `unset BROKER_SESSION, or drop --task to answer for session ${id}`,
  });
}
