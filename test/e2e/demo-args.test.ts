// `npm run demo`'s app options: `--app [GROUP/]ID[:MODE]` and `--group GROUP`
// (test/demo/apps.ts demoAppsFromArgs), and the exit code 2 for a bad one.
import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";
import { demoAppsFromArgs } from "../demo/apps.js";
import { REPO_ROOT } from "../harness/envoy.js";
import { budget } from "../harness/slowness.js";

it("--group shop --app shop/cart --app shop/catalog: a shell at / and two micro-frontends on one host, one group, own audiences", () => {
  const apps = demoAppsFromArgs(["shop/cart", "shop/catalog:tokenExchange"], "shop");
  expect(apps?.map((a) => [a.id, a.group, a.host, a.pathPrefix, a.mode])).toEqual([
    ["shop", "shop", "localhost", "/", "bff"],
    ["cart", "shop", "localhost", "/cart", "bff"],
    ["catalog", "shop", "localhost", "/catalog", "tokenExchange"],
  ]);
  expect(apps?.[1].publicPaths).toEqual(["/cart/", "/cart/index.html", "/cart/static/*"]);
  expect(new Set(apps?.map((a) => a.audience)).size).toBe(3);
  // Apps without a group keep their own hosts; groups beside them get a host each.
  expect(demoAppsFromArgs(["a", "g/b"], undefined)?.map((a) => [a.id, a.host ?? "(default)"])).toEqual([
    ["a", "(default)"],
    ["b", "g.localhost"],
  ]);
  expect(demoAppsFromArgs(undefined, undefined)).toBeUndefined();
});

it.each([
  [["Shop/cart"], undefined],
  [["shop/"], undefined],
  [["shop/cart:nope"], undefined],
  [["a/b/c"], undefined],
  [[], "Bad_Group"],
])("refuses --app %j --group %j", (args, group) => {
  expect(() => demoAppsFromArgs(args, group)).toThrow(/--(app|group)/);
});

it("npm run demo exits 2 on a bad --group, before starting anything", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "test/demo/run.ts", "--group", "Bad_Group"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: budget(60_000),
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain("--group Bad_Group");
  expect(r.stdout).not.toContain("redis");
});
