import { randomBytes, randomInt } from "node:crypto";

/** A key of the AKIA shape, made up now; the STS stand-in is told to accept it. */
export function randomAwsKey(): { accessKeyId: string; secretAccessKey: string } {
  const b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const id = Array.from({ length: 16 }, () => b32[randomInt(32)]).join("");
  return { accessKeyId: `AKIA${id}`, secretAccessKey: randomBytes(30).toString("base64").slice(0, 40) };
}

export function demoPolicy(names: { aws: string; app: string; openai: string }, stsUrl: string, githubUrl: string): string {
  return `task: demo-agent
description: The demo's agent; reads one bucket and one repository
ttl: 10m
max_ttl: 30m
aws:
  source: ${names.aws}
  role_arn: arn:aws:iam::123456789012:role/report-reader
  region: us-east-1
  endpoint: ${stsUrl}
  session_policy:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject"]
        Resource: ["arn:aws:s3:::reports-bucket/*"]
  tags: { team: data }
github:
  app: ${names.app}
  api_url: ${githubUrl}
  owner: acme
  repositories: [reports]
  permissions: { contents: read }
env:
  OPENAI_API_KEY: { secret: ${names.openai} }
`;
}
