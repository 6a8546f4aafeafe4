/**
 * Which environment variable names a session may carry in its `env` (a policy's `env:` entries,
 * and so the `env` of a daemon's answer). One list for both sides: policies are refused when they
 * load, and the client refuses an answer that names one anyway (a daemon that is not its own, or
 * one that predates this list). No imports: the CLI loads it on every `broker run`.
 */

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Variables the broker sets itself (CONTRACT.md, "Environment given to broker run's command", and the sandbox `env` file). */
export const RESERVED_ENV = /^(?:AWS_|BROKER_)|^(?:GH_TOKEN|GITHUB_TOKEN|GH_ENTERPRISE_TOKEN|GITHUB_ENTERPRISE_TOKEN|GH_HOST|GH_CONFIG_DIR|GIT_CONFIG_COUNT|GIT_CONFIG_KEY_\d+|GIT_CONFIG_VALUE_\d+)$/;

/** Name prefixes that change which program runs, what it loads, where it connects or whom it trusts. */
const UNSAFE_PREFIXES = [
  "LD_", "DYLD_", "BASH_FUNC_", // the dynamic loader, exported shell functions
  "GIT_", "GH_", "SSH_", "DBUS_", "XDG_", "DOCKER_", "OPENSSL_", // git/gh config and helpers, agents, buses, config dirs
  "NODE_", "NPM_CONFIG_", "npm_config_", "YARN_", "BUN_", "DENO_", // JavaScript runtimes and package managers
  "PYTHON", "PIP_", "UV_", "PERL", "RUBY", "GEM_", "BUNDLE_", "LUA_", // other interpreters and their package managers
  "CARGO_", "RUSTUP_", "RUSTC", "RUSTDOC", "DOTNET_", "COMPlus_", "CORECLR_", "COR_",
];

/** Whole names, same reasons. */
const UNSAFE_NAMES = [
  // the shell and where programs are found
  "PATH", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND", "IFS", "CDPATH", "GLOBIGNORE", "FPATH", "ZDOTDIR", "INPUTRC", "HISTFILE",
  "HOME", "SHELL", "TMPDIR", "TMP", "TEMP",
  // commands other programs run
  "EDITOR", "VISUAL", "PAGER", "MANPAGER", "BROWSER", "SUDO_ASKPASS", "LESS", "LESSOPEN", "LESSCLOSE", "LESSKEY", "VIMINIT", "EXINIT",
  // libc: locale modules, resolver, tunables
  "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF", "LOCALDOMAIN", "RES_OPTIONS", "GLIBC_TUNABLES",
  // compilers and build tools
  "CC", "CXX", "CPP", "LD", "MAKEFLAGS", "MFLAGS", "MAKEFILES", "LIBRARY_PATH", "CPATH",
  // the JVM, Go, PHP
  "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "JAVA_HOME", "CLASSPATH", "MAVEN_OPTS", "GRADLE_OPTS", "SBT_OPTS",
  "GOFLAGS", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GONOPROXY", "GOPRIVATE", "GOINSECURE", "GOTOOLCHAIN", "GOROOT", "GOPATH", "GOENV", "GOBIN",
  "PHPRC", "PHP_INI_SCAN_DIR",
  // where traffic goes and which certificates are trusted
  "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy",
  "SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE", "CURL_CA_BUNDLE", "CURL_HOME", "REQUESTS_CA_BUNDLE", "WGETRC",
  "GNUPGHOME", "GPG_AGENT_INFO", "KUBECONFIG",
  // GitHub tooling pointed at another host
  "GITHUB_ENTERPRISE_TOKEN", "GITHUB_API_URL", "GITHUB_SERVER_URL", "GITHUB_GRAPHQL_URL",
];

export const UNSAFE_ENV = new RegExp(`^(?:${UNSAFE_PREFIXES.join("|")})|^(?:${UNSAFE_NAMES.join("|")})$`);

/** What is wrong with `name` as a session variable, or undefined when it may be set. */
export function envNameProblem(name: string): string | undefined {
  if (!ENV_NAME.test(name) || name.length > 256) {
    return "must be an environment variable name: a letter or _, then letters, digits or _";
  }
  if (RESERVED_ENV.test(name)) {
    return "is set by the broker itself (AWS_*, GH_TOKEN, GITHUB_TOKEN, GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN, GH_HOST, BROKER_*, GH_CONFIG_DIR, GIT_CONFIG_*); choose another name";
  }
  if (UNSAFE_ENV.test(name)) {
    return "changes which programs run, what they load, where they connect or whom they trust (PATH, LD_*, BASH_ENV, NODE_OPTIONS, PYTHON*, GIT_*, proxies, CA bundles, …), so the broker never sets it; choose another name";
  }
  return undefined;
}
