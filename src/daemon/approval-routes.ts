/**
 * The operator's approval routes, on the main socket only (a session socket refuses every route
 * but its own three, with 403 ERR_SESSION_SCOPE): list the requests waiting for approval, approve
 * one (bound to the plan digest the approver was shown), deny one. The approver is who the
 * kernel says is at the other end of the connection (SO_PEERCRED), for the audit line.
 */
import type { FastifyInstance } from "fastify";
import type { Approvals } from "../approval/pending-approvals.js";
import { requesterOf } from "../approval/requester.js";
import { errorSchema } from "./schemas.js";

const errors = { "4xx": errorSchema, "5xx": errorSchema };
const idParams = { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 64 } } } as const;
const approveBody = { type: "object", additionalProperties: false, required: ["digest"], properties: { digest: { type: "string", pattern: "^[0-9a-f]{64}$" } } } as const;
const denyBody = { type: "object", additionalProperties: false, properties: { reason: { type: "string", maxLength: 1000 } } } as const;

const nullable = (type: string) => ({ type: [type, "null"] });
export const pendingSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    task: { type: "string" },
    digest: { type: "string" },
    createdAt: { type: "string" },
    expiresAt: { type: "string" },
    summary: {
      type: "object",
      properties: {
        task: { type: "string" },
        ttlSeconds: { type: "integer" },
        repositories: { type: ["array", "null"], items: { type: "string" } },
        permissions: { type: "object", additionalProperties: { type: "string" } },
        providers: { type: "array", items: { type: "string" } },
        reasons: { type: "array", items: { type: "string" } },
      },
    },
    requester: { type: "object", properties: { pid: nullable("integer"), uid: nullable("integer"), executable: nullable("string"), cwd: nullable("string") } },
    parentSession: nullable("string"),
  },
} as const;

export function registerApprovalRoutes(app: FastifyInstance, approvals: Approvals): void {
  app.get("/v1/approvals", { schema: { response: { 200: { type: "array", items: pendingSchema }, ...errors } } }, async () => approvals.list());

  app.post<{ Params: { id: string }; Body: { digest: string } }>(
    "/v1/approvals/:id/approve",
    { schema: { params: idParams, body: approveBody, response: errors } },
    async (request, reply) => {
      const { uid, pid } = requesterOf(request.raw.socket);
      approvals.approve(request.params.id, request.body.digest, { uid, pid });
      reply.status(204);
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
    "/v1/approvals/:id/deny",
    { schema: { params: idParams, body: denyBody, response: errors } },
    async (request, reply) => {
      const { uid, pid } = requesterOf(request.raw.socket);
      approvals.deny(request.params.id, { uid, pid }, request.body?.reason);
      reply.status(204);
    },
  );
}
