// Debian's Chromium driven by playwright-core (no browser download): headless,
// with the background-networking flags that keep it off a closed network.
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { onCleanup } from "./cleanup.js";

export function chromiumBin(): string {
  const bin = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
  if (!existsSync(bin)) {
    throw new Error(
      `Chromium not found at ${bin}: install Debian's chromium (bash .ci/run does) or set CHROMIUM_BIN`,
    );
  }
  return bin;
}

export async function startBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: chromiumBin(),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  onCleanup(async () => {
    // playwright keeps each launch in a fresh temporary profile and removes it on close.
    await browser.close().catch(() => {});
  });
  return browser;
}
