// mTLS between meshed workloads: a transport socket presenting the node's own
// certificate (SDS secret sg_identity, delivered over ADS) and verifying the
// peer against the trust bundle (sg_trust) plus the peer's SPIFFE id.
import { SDS_IDENTITY, SDS_TRUST } from "./names.js";
import { type Json, type TranslateConfig, TYPE } from "./types.js";

const ads = { ads: {}, resource_api_version: "V3" };

/** The common TLS context: our certificate from SDS, peers checked against the bundle and `peerSans`. */
export function meshTlsContext(peerSans: Json[]): Json {
  return {
    tls_certificate_sds_secret_configs: [{ name: SDS_IDENTITY, sds_config: ads }],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: peerSans },
      validation_context_sds_secret_config: { name: SDS_TRUST, sds_config: ads },
    },
  };
}

/** A URI SAN matcher for every workload of `role` in the mesh's trust domain. */
export function roleSan(mesh: NonNullable<TranslateConfig["mesh"]>, role: string): Json {
  return { san_type: "URI", matcher: { prefix: `spiffe://${mesh.trustDomain}/${role}/` } };
}

/** An upstream (client side) mTLS transport socket to a peer of one of `roles`. */
export function meshUpstreamTls(mesh: NonNullable<TranslateConfig["mesh"]>, roles: string[]): Json {
  return {
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": TYPE.upstreamTls,
        common_tls_context: meshTlsContext(roles.map((r) => roleSan(mesh, r))),
      },
    },
  };
}

/**
 * A downstream (server side) mTLS transport socket: clients must present a
 * certificate from the bundle naming a workload of one of `roles`.
 */
export function meshDownstreamTls(mesh: NonNullable<TranslateConfig["mesh"]>, roles: string[]): Json {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": TYPE.downstreamTls,
      require_client_certificate: true,
      common_tls_context: meshTlsContext(roles.map((r) => roleSan(mesh, r))),
    },
  };
}

/** An upstream mTLS socket to exactly one workload id. */
export function meshUpstreamTlsTo(spiffeId: string): Json {
  return {
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": TYPE.upstreamTls,
        common_tls_context: meshTlsContext([{ san_type: "URI", matcher: { exact: spiffeId } }]),
      },
    },
  };
}
