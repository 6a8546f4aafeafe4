/**
 * `broker git-credential get|store|erase`: a git credential helper. `get` answers with the GitHub
 * installation token of the session (BROKER_SESSION) or of `--task T`, only for that session's
 * GitHub host, with `password_expiry_utc` at the earlier of the token's expiry and the session's
 * end; `store` and `erase` do nothing (the broker, not git, owns these tokens).
 */
import { BrokerClient } from "../../client/broker-client.js";
import type { GithubCredentials } from "../../providers/provider.js";
import { BrokerError } from "../../errors.js";
import { approvalNotice } from "../approval-notice.js";
import { parseCommandArgs, stringFlag } from "../args.js";
import type { CommandContext } from "../context.js";
import { chooseSession, withInherited } from "../session-choice.js";

const USAGE = "broker git-credential [--task T] get|store|erase";
const NEAR_END_MS = 5 * 60_000;

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

export function parseGitAttributes(text: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) attrs[line.slice(0, at)] = line.slice(at + 1).replace(/\r$/, "");
  }
  return attrs;
}

/** A token and when git must stop using it: the token's expiry or its session's end, whichever comes first. */
interface Answer {
  github: GithubCredentials | undefined;
  expiresAt: number;
  /** A session opened for this answer, to end should answering fail. */
  opened?: string;
}

const answer = (github: GithubCredentials | undefined, sessionExpiresAt: string): Answer => ({
  github,
  expiresAt: Math.min(github ? Date.parse(github.expiresAt) : Infinity, Date.parse(sessionExpiresAt)),
});

/** A live session's token with time left, or a new session's. */
async function tokenForTask(client: BrokerClient, task: string, stderr: NodeJS.WritableStream): Promise<Answer> {
  const live = (await client.listSessions()).filter((s) => s.task === task).sort((a, b) => b.expiresAt.localeCompare(a.expiresAt));
  for (const s of live) {
    const found = answer((await client.credentials(s.id).catch(() => null))?.github, s.expiresAt);
    if (found.github && found.expiresAt - Date.now() > NEAR_END_MS) return found;
  }
  // `requires`: a task without GitHub is refused before a session opens, so none is left behind.
  const session = await client.openSession({ task, requires: ["github"] }, approvalNotice(stderr));
  return { ...answer(session.credentials?.github, session.expiresAt), opened: session.id };
}

async function tokenForSession(client: BrokerClient, id: string): Promise<Answer> {
  const [credentials, session] = await Promise.all([client.credentials(id), client.getSession(id)]);
  return answer(credentials.github, session.expiresAt);
}

export default async function gitCredential(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, { task: { type: "string" } }, ctx.env);
  const [action] = parsed.positionals;
  if (parsed.values.help) {
    ctx.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  if (action !== "get" && action !== "store" && action !== "erase") {
    throw new BrokerError("ERR_USAGE", `unknown action ${JSON.stringify(action ?? "")}`, { fix: `usage: ${USAGE}` });
  }
  const attrs = parseGitAttributes(await readAll(ctx.stdin));
  if (action !== "get") return 0;

  const client = new BrokerClient(parsed.places.socket);
  const choice = await chooseSession(client, ctx.env, stringFlag(parsed, "task"));
  if (!choice) throw new BrokerError("ERR_USAGE", "no session: run inside `broker run` or pass --task T", { fix: `usage: ${USAGE}` });
  const { github, expiresAt, opened } =
    choice.kind === "session"
      ? await tokenForSession(client, choice.id)
      : await tokenForTask(client, choice.task, ctx.stderr).catch((error: unknown) => {
          throw withInherited(error, choice);
        });
  try {
    // Answer nothing for hosts that are not the session's GitHub: git then asks its next helper.
    if (!github || attrs.host !== github.host || (attrs.protocol !== undefined && attrs.protocol !== github.scheme)) return 0;
    // The token is revoked when its session ends, so git must not keep it past either end.
    const expiry = Math.floor(expiresAt / 1000);
    ctx.stdout.write(`protocol=${github.scheme}\nhost=${github.host}\nusername=x-access-token\npassword=${github.token}\npassword_expiry_utc=${expiry}\n`);
    return 0;
  } catch (error) {
    // A session opened for an answer that never went out must not live on until its TTL.
    if (opened) await client.closeSession(opened).catch(() => undefined);
    throw error;
  }
}
