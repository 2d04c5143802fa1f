/**
 * The nats-server the bus tests run is the one pinned in config/versions.ts: the install script
 * reads that pin, and the harness refuses any other binary with how to install the right one.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { HELM_CHARTS, NATS_SERVER_VERSION } from "../../config/versions.js";
import { NATS_SERVER_ENV, natsServerBinary, natsServerCachePath, requireNatsServer } from "../../services/nats-auth/nats-server-process.js";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

describe("the pinned nats-server", () => {
  const dir = mkdtempSync(join(tmpdir(), "enchanted-fake-nats-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const fake = (name: string, versionLine: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\necho '${versionLine}'\n`);
    chmodSync(path, 0o755);
    return path;
  };

  it("is a plain x.y.z on exactly the line .ci/install-system-deps reads", () => {
    const script = readFileSync(join(ROOT, ".ci", "install-system-deps"), "utf8");
    const pattern = /grep -E '([^']+)' "\$repo\/config\/versions\.ts"/.exec(script)?.[1];
    expect(pattern, "the install script greps config/versions.ts for the pin").toBeDefined();
    const lines = readFileSync(join(ROOT, "config", "versions.ts"), "utf8").split("\n");
    const matching = lines.filter((l) => new RegExp(pattern ?? "^$").test(l));
    expect(matching).toEqual([`export const NATS_SERVER_VERSION = "${NATS_SERVER_VERSION}";`]);
  });

  it("is the version the README says the first command builds", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const said = [...readme.matchAll(/nats-server(?:\/v2@v|\/| )(\d+\.\d+\.\d+)/g)].map((m) => m[1]);
    expect(said.length).toBeGreaterThan(0);
    for (const version of said) expect(version).toBe(NATS_SERVER_VERSION);
  });

  it("has the NATS chart's minor (the chart's appVersion is the server the cluster runs)", () => {
    expect(NATS_SERVER_VERSION.split(".").slice(0, 2)).toEqual(HELM_CHARTS.nats.version.split(".").slice(0, 2));
  });

  it("is found in the cache for its version, or where ENCHANTED_NATS_SERVER says", () => {
    expect(natsServerCachePath({ HOME: "/home/u" })).toBe(`/home/u/.cache/enchanted/nats-server/${NATS_SERVER_VERSION}/nats-server`);
    expect(natsServerCachePath({ HOME: "/home/u", XDG_CACHE_HOME: "/c" })).toBe(`/c/enchanted/nats-server/${NATS_SERVER_VERSION}/nats-server`);
    expect(natsServerBinary({ HOME: "/home/u", [NATS_SERVER_ENV]: "/opt/nats-server" })).toBe("/opt/nats-server");
  });

  it("accepts a binary that reports exactly the pinned version", () => {
    const ok = fake("ok", `nats-server: v${NATS_SERVER_VERSION}`);
    expect(requireNatsServer({ [NATS_SERVER_ENV]: ok })).toBe(ok);
  });

  it("refuses another version, and a missing binary, saying how to install the pinned one", () => {
    const old = fake("old", "nats-server: v2.9.10");
    expect(() => requireNatsServer({ [NATS_SERVER_ENV]: old })).toThrow(/reports "nats-server: v2\.9\.10".*bash \.ci\/install-system-deps/);
    expect(() => requireNatsServer({ XDG_CACHE_HOME: join(dir, "empty-cache") })).toThrow(new RegExp(`nats-server ${NATS_SERVER_VERSION.replace(/\./g, "\\.")} not found.*bash \\.ci/install-system-deps`));
  });
});
