/** Where git and gh talk to for a given GitHub API URL (docs/interface.md, sandbox `git/credentials`). */
import { BrokerError } from "../errors.js";

export const DEFAULT_GITHUB_API_URL = "https://api.github.com";

export interface GithubWebOrigin {
  scheme: "http" | "https";
  /** host[:port], e.g. `github.com`, `ghe.example.com`, `127.0.0.1:8123`. */
  host: string;
}

/** `https://api.github.com/` and `https://ghe.example.com/api/v3/` lose their trailing slash. */
export function normaliseApiUrl(apiUrl: string | undefined): string {
  const text = (apiUrl ?? "").trim() || DEFAULT_GITHUB_API_URL;
  const url = parseHttpUrl(text);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** `https://api.github.com` → https + `github.com`; otherwise the scheme and host[:port] of the API URL. */
export function githubWebOrigin(apiUrl: string): GithubWebOrigin {
  const url = parseHttpUrl(apiUrl);
  if (url.hostname.toLowerCase() === "api.github.com") return { scheme: "https", host: "github.com" };
  // URL.host omits the port when it is the scheme's default, which is what git expects too.
  return { scheme: url.protocol === "http:" ? "http" : "https", host: url.host };
}

function parseHttpUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidApiUrl(text);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw invalidApiUrl(text);
  if (url.username || url.password) throw invalidApiUrl("(a URL with credentials)");
  return url;
}

function invalidApiUrl(text: string): BrokerError {
  return new BrokerError("ERR_POLICY_INVALID", `github.api_url ${JSON.stringify(text)} is not an http(s) URL`, {
    fix: "use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server",
  });
}
