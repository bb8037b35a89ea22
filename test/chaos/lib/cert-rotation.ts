// Certificate rotation under load. The chaos gateway runs without mTLS, so
// this fault starts its own two-sidecar mesh (test/xds/mesh-fixture.ts: the
// xds-server as the mesh CA, certificates delivered over SDS) and puts steady
// load on the sidecar A → sidecar B mTLS path while every SDS certificate of
// both sidecars is replaced; the gateway's load runs beside it as in every
// scenario.
import { waitFor } from "../../harness/index.js";
import { heldSerials, startMesh } from "../../xds/mesh-fixture.js";
import type { Scenario } from "./scenario.js";

/** The xds-server's smallest certificate lifetime: re-issued at two thirds of it (~40 s). */
const CERT_TTL_S = 60;
/** Closed-loop connections on the mesh path (as in test/xds/mesh-rotation.e2e.test.ts). */
const MESH_WORKERS = 4;

export const certRotation: Scenario = {
  name: "cert-rotation",
  title: "Workload certificates rotated over SDS under load",
  what: `a two-sidecar mesh (mTLS ADS, the xds-server as CA, ${CERT_TTL_S} s certificates re-issued at two thirds of their life and pushed over SDS) under ${MESH_WORKERS} closed-loop A → B loops until every SDS certificate of both sidecars has been replaced`,
  inQuick: true,
  fault: async (_stack, _t, log) => {
    const mesh = await startMesh([{ name: "svc-a" }, { name: "svc-b" }], [`--xds-cert-ttl=${CERT_TTL_S}s`]);
    try {
      await waitFor("A → B", async () => (await mesh.call("svc-a", "svc-b")).status === 200, 30_000);
      // The SDS-delivered certificates (the bootstrap's ADS one is not rotated by SDS), each
      // once: /certs lists a sidecar's one identity for every listener and cluster using it.
      const sds = async (svc: string) => [
        ...new Set((await heldSerials(mesh.envoys[svc])).filter((s) => s !== mesh.bootstrapSerial[svc])),
      ];
      const services = ["svc-a", "svc-b"];
      const before = await Promise.all(services.map(sds));
      const held = before.flat();
      let stop = false;
      let ok = 0;
      const failures: string[] = [];
      const worker = async () => {
        while (!stop) {
          const r = await mesh.call("svc-a", "svc-b");
          if (r.status === 200) ok++;
          else failures.push(`${r.status} ${r.body.slice(0, 120)}`);
        }
      };
      const faultAt = Date.now();
      const load = Promise.all(Array.from({ length: MESH_WORKERS }, worker));
      let now: string[][] = before;
      let rotatedAfterMs: number | null = null;
      try {
        const allRotated = () =>
          now.every((serials, i) => serials.length > 0 && !serials.some((s) => before[i].includes(s)));
        rotatedAfterMs = await waitFor(
          "every SDS certificate re-issued",
          async () => {
            now = await Promise.all(services.map(sds));
            return allRotated();
          },
          (CERT_TTL_S + 30) * 1000,
          250,
        ).then(
          () => Date.now() - faultAt,
          () => null,
        );
        log(`    certificates rotated after ${rotatedAfterMs === null ? "(not)" : `${rotatedAfterMs} ms`}`);
        // Keep the load on the new certificates for a moment.
        const at = ok;
        await waitFor("requests on the new certificates", async () => ok > at + 50, 30_000).catch(() => {});
      } finally {
        stop = true;
        await load;
      }
      const backAt = Date.now();
      const rotated = held.filter((s) => !now.flat().includes(s)).length;
      const total = ok + failures.length;
      return {
        faultAt,
        backAt,
        figures: {
          meshRequests: total,
          meshFailedRequests: failures.length,
          meshRequestsPerS: Math.round(total / ((backAt - faultAt) / 1000)),
          sdsCertificatesBefore: held.length,
          sdsCertificatesRotated: rotated,
          allRotatedAfterMs: rotatedAfterMs,
        },
        notes: [
          `Serials from each sidecar's admin /certs (its bootstrap ADS certificate left out): before ${before.map((b, i) => `${services[i]} ${b.join(",")}`).join("; ")}; after ${now.map((b, i) => `${services[i]} ${b.join(",")}`).join("; ")}.`,
          ...failures.slice(0, 5).map((f) => `failed mesh request: ${f}`),
        ],
        goals: [
          {
            name: "failed requests through the rotating certificates (sidecar A → B, mTLS)",
            target: "0",
            measured: `${failures.length} of ${total}`,
            met: failures.length === 0 && ok > 0,
          },
          {
            name: "SDS certificates rotated (serial numbers in Envoy's /certs)",
            target: `${held.length} of ${held.length}`,
            measured: `${rotated} of ${held.length}`,
            met: held.length > 0 && rotated === held.length && rotatedAfterMs !== null,
          },
        ],
      };
    } finally {
      await Promise.all(Object.values(mesh.envoys).map((e) => e.stop()));
      await mesh.cp.stop();
    }
  },
};
