/**
 * A small HTTP proxy in front of the real Keycloak for fault injection: the provisioning adapter
 * talks to the proxy, the proxy forwards every request unchanged and counts what passed, unless
 * told to fail:
 *
 * - {@link KeycloakFaultProxy.failNextAdminCalls} / {@link KeycloakFaultProxy.failureRate}: admin
 *   calls answered 500 or 503 without reaching Keycloak;
 * - {@link KeycloakFaultProxy.expireAdminTokens}: every service-account token issued so far is
 *   answered 401 from now on (Keycloak's answer to an expired token), so the adapter must fetch a
 *   new one.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export class KeycloakFaultProxy {
  /**
   * Share (0-1) of admin calls answered 500/503 without effect, spread evenly (0.2: every fifth
   * call), so that a test sees the same number of failures on every run.
   */
  failureRate = 0;
  private failureDebt = 0;
  /** The next this-many admin calls answer 503. */
  failNextAdminCalls = 0;
  readonly stats = { tokenGrants: 0, adminCalls: 0, injectedFailures: 0, expiredRefusals: 0, roleMappingWrites: 0 };
  private readonly issued = new Set<string>();
  private readonly expired = new Set<string>();
  private server!: Server;
  private port = 0;

  private constructor(readonly target: string) {}

  static async start(target: string): Promise<KeycloakFaultProxy> {
    const proxy = new KeycloakFaultProxy(target);
    proxy.server = createServer((req, res) => {
      proxy.handle(req).then(
        ({ status, headers, body }) => {
          res.writeHead(status, headers);
          res.end(body);
        },
        () => {
          res.writeHead(502, { "content-type": "application/json" });
          res.end('{"error":"proxy"}');
        },
      );
    });
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.port = (proxy.server.address() as AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  expireAdminTokens(): void {
    for (const t of this.issued) this.expired.add(t);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = req.url ?? "/";
    const json = (status: number, payload: unknown) => ({ status, headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify(payload)) });
    const admin = path.startsWith("/admin/realms/");
    if (admin) {
      this.stats.adminCalls++;
      const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      if (this.expired.has(token)) {
        this.stats.expiredRefusals++;
        return json(401, { error: "HTTP 401 Unauthorized" });
      }
      this.failureDebt += this.failureRate;
      const scheduled = this.failureDebt >= 1;
      if (scheduled) this.failureDebt -= 1;
      if (this.failNextAdminCalls > 0 || scheduled) {
        if (this.failNextAdminCalls > 0) this.failNextAdminCalls--;
        this.stats.injectedFailures++;
        return json(this.stats.injectedFailures % 2 === 0 ? 500 : 503, { error: "unknown_error" });
      }
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "connection" && k !== "content-length") headers[k] = v;
    const res = await fetch(`${this.target}${path}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined, redirect: "manual" });
    const body = Buffer.from(await res.arrayBuffer());
    if (path.endsWith("/protocol/openid-connect/token") && res.status === 200) {
      this.stats.tokenGrants++;
      const token = (JSON.parse(body.toString("utf8")) as { access_token?: string }).access_token;
      if (token) this.issued.add(token);
    }
    if (admin && (req.method === "POST" || req.method === "DELETE") && /\/role-mappings\/realm$/.test(path.split("?")[0] ?? "") && res.status < 300) this.stats.roleMappingWrites++;
    const out: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection" && k !== "content-encoding") out[k] = v;
    });
    return { status: res.status, headers: out, body };
  }
}
