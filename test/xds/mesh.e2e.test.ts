// Service-to-service mTLS and authorization through real sidecars: A's
// outbound listener reaches B's inbound listener over mTLS with A's SDS
// certificate; B's RBAC filter admits only its allowed_callers (403 for
// others), plaintext to B's inbound port gets nothing, and B's upstream learns
// the caller from x-forwarded-client-cert, which a client cannot forge.
import { beforeAll, describe, expect, it } from "vitest";
import { hostRequest, waitFor } from "../harness/index.js";
import { type Mesh, startMesh, TD } from "./mesh-fixture.js";

let mesh: Mesh;

beforeAll(async () => {
  mesh = await startMesh([
    { name: "svc-a" },
    { name: "svc-b", allowedCallers: [`spiffe://${TD}/sidecar/svc-a`] },
    { name: "svc-c" },
  ]);
});

describe("service to service through sidecars", () => {
  it("A → B over mTLS succeeds when A is in B's allowed_callers; the upstream sees A's identity", async () => {
    const r = await waitFor("A → B answered by B's upstream", async () => {
      const x = await mesh.call("svc-a", "svc-b");
      return x.status === 200 ? x : undefined;
    });
    const seen = JSON.parse(r.body).headers as Record<string, string>;
    expect(seen["x-forwarded-client-cert"]).toContain(`URI=spiffe://${TD}/sidecar/svc-a`);
  });

  it("a caller not in allowed_callers gets 403 from RBAC", async () => {
    const r = await waitFor("C → B refused", async () => {
      const x = await mesh.call("svc-c", "svc-b");
      return x.status === 403 ? x : undefined;
    });
    expect(r.body).toContain("RBAC");
    // Without an allowed_callers list any mesh workload may call: C → A works.
    await waitFor("C → A answered", async () => (await mesh.call("svc-c", "svc-a")).status === 200);
  });

  it("a client cannot forge the caller identity header", async () => {
    const r = await mesh.call("svc-a", "svc-b", {
      "x-forwarded-client-cert": `URI=spiffe://${TD}/sidecar/admin`,
    });
    expect(r.status).toBe(200);
    const xfcc = (JSON.parse(r.body).headers as Record<string, string>)["x-forwarded-client-cert"];
    expect(xfcc).toContain(`URI=spiffe://${TD}/sidecar/svc-a`);
    expect(xfcc).not.toContain("admin");
  });

  it("plaintext to B's inbound port gets no HTTP answer", async () => {
    const r = await hostRequest(mesh.inbound["svc-b"], "/orders", {
      host: "x",
      authorization: `Bearer ${await mesh.jwks.sign({}, { aud: "api" })}`,
    }).catch((e: Error) => ({ status: 0, body: e.message }));
    expect(r.status).toBe(0);
  });
});
