/** The error for a task without a policy, naming the nearest task there is (`reprot` → report). */
import { BrokerError } from "../errors.js";
import { closest } from "../policy/closest.js";

export function unknownTaskError(task: string, known: Iterable<string>): BrokerError {
  const near = closest(task, [...known]);
  // The name is the caller's own input: shown, but cut short.
  return new BrokerError("ERR_TASK_UNKNOWN", `no policy for task "${task.slice(0, 80)}"${near ? ` (did you mean ${near}?)` : ""}`, {
    fix: near ? `use --task ${near}, or add ${task.slice(0, 80)}.yaml to the policies dir and send the daemon SIGHUP` : "list the policies dir, or add <task>.yaml there and send the daemon SIGHUP",
  });
}
