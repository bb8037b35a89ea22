// Domain records -> wire messages. Secrets never leave: only a status string.
import { create } from "@bufbuild/protobuf";
import { type App, AppSchema } from "../../protos/gen/sessiongate/v1/apps_pb.js";
import type { SecretBox } from "../registry/secrets.js";
import type { AppRecord, HostPort } from "../registry/types.js";
import type { StatusBoard } from "./status.js";

const hp = (h: HostPort) => (h.host.includes(":") ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`);

/** `secrets` opens the stored (sealed) secret only to show its sha256 status. */
export function toWire(rec: AppRecord, secrets: SecretBox, status?: StatusBoard): App {
  const s = rec.spec;
  const st = status?.appStatus(s.id, rec.revision);
  return create(AppSchema, {
    spec: {
      id: s.id,
      hosts: s.hosts,
      pathPrefix: s.pathPrefix,
      oidc: {
        issuer: s.oidc.issuer,
        clientId: s.oidc.clientId,
        scopes: s.oidc.scopes,
        clientSecret: "",
        clientSecretStatus: secrets.status(s.id, rec.clientSecret),
        publicOrigin: s.oidc.publicOrigin ?? "",
        postLogoutRedirectUri: s.oidc.postLogoutRedirectUri ?? "",
        authParams: s.oidc.authParams ?? {},
      },
      session: {
        mode: s.session.mode,
        cookieName: s.session.cookieName,
        allowedOrigins: s.session.allowedOrigins,
      },
      upstreams: s.upstreams.map(hp),
      jwt: {
        issuer: s.jwt.issuer,
        audiences: s.jwt.audiences,
        remoteJwksUri: s.jwt.remoteJwksUri,
        claimHeaders: s.jwt.claimHeaders,
        jwksCacheDurationS: s.jwt.jwksCacheDurationS,
      },
      ...(s.extAuthz
        ? {
            extAuthz: {
              target: hp(s.extAuthz),
              timeoutMs: s.extAuthz.timeoutMs,
              failMode: s.extAuthz.failMode,
            },
          }
        : {}),
      ...(s.sidecar
        ? {
            sidecar: {
              service: s.sidecar.service,
              inboundPort: s.sidecar.inboundPort,
              allowedCallers: s.sidecar.allowedCallers ?? [],
            },
          }
        : {}),
      publicPaths: s.publicPaths ?? [],
      group: s.group ?? "",
    },
    revision: BigInt(rec.revision),
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    ...(st
      ? {
          status: {
            state: st.state,
            nodesAcked: st.nodesAcked,
            nodesTotal: st.nodesTotal,
            nacks: st.nacks.map((n) => ({
              nodeId: n.nodeId,
              typeUrl: n.typeUrl,
              message: n.message,
              at: n.at,
            })),
          },
        }
      : {}),
  });
}
