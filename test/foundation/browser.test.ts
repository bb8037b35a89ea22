import { describe, expect, it } from "vitest";
import { startBrowser, startEcho } from "../harness/index.js";

describe("Chromium from the harness", () => {
  it("loads a loopback page and its request reaches the server", async () => {
    const echo = await startEcho();
    const browser = await startBrowser();
    const page = await browser.newPage();
    const res = await page.goto(`${echo.url}/from-chromium`);
    expect(res?.status()).toBe(200);
    const body = JSON.parse(await page.locator("body").innerText()) as { path: string };
    expect(body.path).toBe("/from-chromium");
    expect(String(echo.requests[0]?.headers["user-agent"])).toMatch(/HeadlessChrome|Chrome/);
  });
});
