/**
 * Reads a secret value the only two ways the contract allows: all of stdin when it is a pipe or
 * file, or a hidden prompt when it is a terminal (raw mode, nothing echoed). Never argv.
 */
import { BrokerError } from "../errors.js";
import type { CommandContext } from "./context.js";

/** More than any secret we accept; stops `cat bigfile |` from filling memory. */
const MAX_INPUT_BYTES = 1024 * 1024;

export async function readSecretInput(ctx: Pick<CommandContext, "stdin" | "stderr">, prompt: string): Promise<string> {
  if (ctx.stdin.isTTY) return readHidden(ctx.stdin, ctx.stderr, prompt);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.stdin) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.length;
    if (size > MAX_INPUT_BYTES) {
      throw new BrokerError("ERR_INVALID_SECRET", "the input on stdin is larger than 1 MiB", { fix: "check that the right input was piped" });
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Line editing is ours in raw mode: Enter ends, Backspace and Ctrl-U erase, Ctrl-C cancels. */
function readHidden(stdin: CommandContext["stdin"], out: NodeJS.WritableStream, prompt: string): Promise<string> {
  const setRawMode = stdin.setRawMode?.bind(stdin);
  if (!setRawMode) {
    return Promise.reject(new BrokerError("ERR_USAGE", "stdin is a terminal that cannot hide input", { fix: "pipe the value on stdin" }));
  }
  // Echo off before the prompt shows, so nothing typed in reply to it can be echoed.
  setRawMode(true);
  out.write(prompt);
  return new Promise((resolve, reject) => {
    let value = "";
    let escape = false;
    const finish = (error?: BrokerError): void => {
      stdin.removeListener("data", onData);
      stdin.removeListener("end", onEnd);
      setRawMode(false);
      stdin.pause();
      out.write("\n");
      if (error) reject(error);
      else resolve(value);
    };
    const onEnd = (): void => finish();
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === "string" ? chunk : chunk.toString("utf8")) {
        // Drop terminal escape sequences (arrow keys, …): ESC, optional '[' and parameters, a final letter.
        if (escape) {
          if (/[A-Za-z~]/.test(ch)) escape = false;
          continue;
        }
        if (ch === "\r" || ch === "\n") return finish();
        if (ch === "\u0003") return finish(new BrokerError("ERR_USAGE", "cancelled; nothing was stored"));
        if (ch === "\u0004") {
          if (value === "") return finish();
        } else if (ch === "\u007f" || ch === "\b") {
          value = Array.from(value).slice(0, -1).join("");
        } else if (ch === "\u0015") {
          value = "";
        } else if (ch === "\u001b") {
          escape = true;
        } else if (ch >= " " || ch === "\t") {
          value += ch;
        }
      }
    };
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.resume();
  });
}
