// Node authentication on ADS: the node a stream claims must be the one its
// client certificate names, and the role it gets resources for is the
// certificate's, never the node's own metadata.
//   gateway  spiffe://<td>/gateway/<name>   node.id = <name>
//   sidecar  spiffe://<td>/sidecar/<svc>    node.cluster = <svc>, node.id = <svc>~<instance>
// '~' cannot occur in a workload name, so no sidecar's node id can equal a
// gateway's or another service's (node ids key the delivery status).
// Any other role, trust domain or claim is PERMISSION_DENIED before the
// stream sees a resource or reports an ACK/NACK (so no app status changes).
import { status } from "@grpc/grpc-js";
import { IdentityError, workloadIdOf } from "../identity/spiffe.js";
import type { NodeInfo } from "../resource/types.js";

/** What grpc-js's call.getAuthContext() reports about the TLS peer. */
export interface PeerAuth {
  sslPeerCertificate?: { subjectaltname?: string };
}

export type GateResult = { node: NodeInfo } | { code: status; reason: string };

/** Decides, from the first request's node and the TLS peer, what the stream may be. */
export type NodeGate = (claimed: NodeInfo, peer: () => PeerAuth) => GateResult;

/** Plaintext ADS (--xds-insecure): every node is what it says. */
export const trustClaims: NodeGate = (node) => ({ node: { ...node, peer: undefined } });

const INSTANCE = /^[A-Za-z0-9._-]{1,128}$/;

export function spiffeNodeGate(trustDomain: string): NodeGate {
  return (claimed, peer) => {
    const cert = peer().sslPeerCertificate;
    if (!cert) return { code: status.UNAUTHENTICATED, reason: "a client certificate is required" };
    let id: ReturnType<typeof workloadIdOf>;
    try {
      id = workloadIdOf(cert.subjectaltname, trustDomain);
    } catch (e) {
      if (e instanceof IdentityError) return { code: status.PERMISSION_DENIED, reason: e.message };
      throw e;
    }
    const who = `spiffe://${id.trustDomain}/${id.role}/${id.name}`;
    const deny = (reason: string) => ({ code: status.PERMISSION_DENIED, reason: `${who}: ${reason}` });
    const md = claimed.metadata;
    if (id.role === "gateway") {
      if (claimed.id !== id.name) return deny(`may only claim node id ${JSON.stringify(id.name)}`);
      if (md.role !== undefined && md.role !== "gateway")
        return deny("a gateway certificate cannot claim another role");
      return { node: { ...claimed, metadata: { ...md, role: "gateway" }, peer: who } };
    }
    if (id.role === "sidecar") {
      if (claimed.cluster !== id.name) return deny(`may only claim node.cluster ${JSON.stringify(id.name)}`);
      const [svc, instance, ...more] = claimed.id.split("~");
      if (svc !== id.name || more.length || instance === undefined || !INSTANCE.test(instance))
        return deny(`may only claim a node id ${id.name}~<instance>`);
      if (md.role !== undefined && md.role !== "sidecar")
        return deny("a sidecar certificate cannot claim another role");
      if (md.service !== undefined && md.service !== id.name)
        return deny(`may only claim metadata.service ${JSON.stringify(id.name)}`);
      return { node: { ...claimed, metadata: { ...md, role: "sidecar", service: id.name }, peer: who } };
    }
    return deny("this role gets no Envoy configuration");
  };
}
