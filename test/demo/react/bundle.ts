// The React demo SPA as the browser gets it: app.tsx and React's production
// build bundled by esbuild into one ES module, once per process.
// "sessiongate/client" is left out (the page's import map points it at the
// BFF's served client); "sessiongate/react" is this package's own export.
import { join } from "node:path";
import { build } from "esbuild";

let bundle: Promise<Buffer> | undefined;

export function reactSpaBundle(): Promise<Buffer> {
  bundle ??= build({
    entryPoints: [join(import.meta.dirname, "app.tsx")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    jsx: "automatic",
    minify: true,
    external: ["sessiongate/client"],
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "silent",
  }).then((r) => Buffer.from(r.outputFiles[0].contents));
  return bundle;
}
