export const HELP = `broker: task-scoped, expiring credentials for AI coding agents

Usage: broker <command> [flags]

Commands:
  daemon                         run the daemon in the foreground
  secret set NAME --type T       store a secret (value from stdin or a hidden prompt)
  secret list | secret rm NAME   list names and types / remove a secret
  policy check [DIR]             validate every policy
  mint --task T [--ttl D] [--format json|env|dotenv|credential-process]
                                 open a session and print its credentials
  run --task T [flags] -- CMD    run CMD with a session's credentials, end it when CMD ends
  sessions                       list live sessions
  revoke ID | --task T | --all   end sessions, revoking their credentials
  credential-process --task T    AWS credential_process output
  git-credential get             git credential helper for the session's GitHub host
  doctor                         check store, socket, policies and clock
  approvals                      list session requests waiting for approval
  approve ID [--yes]             approve a waiting request (asks y/N on a terminal)
  deny ID [--reason TEXT]        deny a waiting request

Global flags:
  --socket PATH  --policies DIR  --state-dir DIR  --store os|file  --passphrase-file F
  --json         machine-readable output
  --help, -h     help (broker help CMD, or broker CMD --help: a command's flags)
  --version      print the version

Exit codes: 0 ok, 1 error, 2 usage, 3 denied by policy, 4 daemon not reachable, 5 upstream failure.
`;
