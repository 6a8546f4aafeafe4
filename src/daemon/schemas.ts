/**
 * Request and response schemas. Response schemas are also the allow-list of what may leave the
 * daemon: a field not named here is dropped by the serializer, so no stray secret slips out.
 */
const nullableString = { type: ["string", "null"] } as const;

export const openSessionBody = {
  type: "object",
  additionalProperties: false,
  required: ["task"],
  properties: {
    task: { type: "string", pattern: "^[a-z0-9][a-z0-9-]{0,62}$" },
    ttl: { anyOf: [{ type: "integer", minimum: 1, maximum: 31_536_000 }, { type: "string", minLength: 1, maxLength: 40 }] },
    sandbox: {
      type: "object",
      additionalProperties: false,
      properties: {
        dir: { type: "string", minLength: 1, maxLength: 4096 },
        tmp: { type: "boolean" },
        path: { type: "string", minLength: 1, maxLength: 4096, pattern: "^/" },
      },
    },
    scope: {
      type: "object",
      additionalProperties: false,
      properties: {
        github: {
          type: "object",
          additionalProperties: false,
          properties: {
            repositories: { type: "array", maxItems: 500, items: { type: "string", minLength: 1, maxLength: 100 } },
            permissions: { type: "object", maxProperties: 64, additionalProperties: { enum: ["read", "write", "admin"] } },
          },
        },
      },
    },
    bind: { enum: ["connection"] },
    requires: { type: "array", maxItems: 2, uniqueItems: true, items: { enum: ["aws", "github"] } },
    confine: { type: "boolean" },
    unboxed: { type: "boolean" },
    envDelivery: { type: "array", maxItems: 2, uniqueItems: true, items: { enum: ["aws", "github"] } },
    parent: { type: "string", minLength: 1, maxLength: 64 },
  },
} as const;

export const credentialsSchema = {
  type: "object",
  properties: {
    aws: {
      type: "object",
      properties: {
        accessKeyId: { type: "string" },
        secretAccessKey: { type: "string" },
        sessionToken: { type: "string" },
        expiration: { type: "string" },
        region: { type: "string" },
      },
    },
    github: {
      type: "object",
      properties: {
        token: { type: "string" },
        expiresAt: { type: "string" },
        host: { type: "string" },
        scheme: { type: "string" },
        repositories: { type: "array", items: { type: "string" } },
        permissions: { type: "object", additionalProperties: { type: "string" } },
      },
    },
    env: { type: "object", additionalProperties: { type: "string" } },
  },
} as const;

const sessionProperties = {
  id: { type: "string" },
  task: { type: "string" },
  createdAt: { type: "string" },
  expiresAt: { type: "string" },
  sandbox: {
    type: "object",
    properties: { dir: { type: "string" }, path: { type: "string" }, files: { type: "array", items: { type: "string" } } },
  },
  confinement: {
    type: "object",
    properties: {
      dir: { type: "string" },
      socket: { type: "string" },
      proxy: { type: "string" },
      hide: { type: "array", items: { type: "string" } },
      write: { type: "array", items: { type: "string" } },
      passEnv: { type: "array", items: { type: "string" } },
      denied: { type: "array", items: { type: "string" } },
      caBundle: { type: "string" },
      leaks: { type: "array", items: { type: "string" } },
    },
  },
} as const;

export const sessionSchema = { type: "object", properties: sessionProperties } as const;
export const sessionWithCredentialsSchema = {
  type: "object",
  properties: { ...sessionProperties, credentials: credentialsSchema, warnings: { type: "array", items: { type: "string" } } },
} as const;

export const errorSchema = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: { code: { type: "string" }, message: { type: "string" }, fix: { type: "string" }, upstreamCode: nullableString, upstreamStatus: { type: ["integer", "null"] }, budget: { type: "string" }, limit: { type: "integer" }, retryAfterSeconds: { type: "integer" } },
    },
  },
} as const;

export const healthSchema = {
  type: "object",
  properties: { ok: { type: "boolean" }, version: { type: "string" }, sessions: { type: "integer" }, coreDumps: { type: "string", enum: ["on", "off", "unknown"] } },
} as const;

export const sessionIdParams = {
  type: "object",
  properties: { id: { type: "string", maxLength: 64 } },
} as const;
