/**
 * The console's CloudFront Function, executed: the code the distribution publishes (read from the
 * synthesized prod-workloads stack) runs in node's vm on CloudFront-shaped viewer-request events.
 */
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { CONSOLE_API_PATH_PATTERNS, pathPrefixesOf, SPA_FUNCTION_RUNTIME, spaRewriteFunctionCode } from "../../constructs/console/index.js";
import { ValidationError } from "../../constructs/core/validation.js";
import { resourcesOf, stackOf } from "../support/synth.js";

interface CloudFrontRequest {
  method: string;
  uri: string;
  querystring: Record<string, { value: string }>;
  headers: Record<string, { value: string }>;
}

/** The synthesized function's code and runtime. */
function publishedFunction(): { code: string; runtime: string } {
  const functions = Object.values(resourcesOf(stackOf("prod", "workloads"), "aws_cloudfront_function")) as { code: string; runtime: string }[];
  expect(functions).toHaveLength(1);
  return functions[0] as { code: string; runtime: string };
}

/** Runs `code`'s handler on a viewer request for `uri`, as CloudFront would (a fresh context per call). */
function viewerRequest(code: string, uri: string, querystring: Record<string, { value: string }> = {}): CloudFrontRequest {
  const request: CloudFrontRequest = { method: "GET", uri, querystring, headers: { host: { value: "api.example.com" } } };
  const event = { version: "1.0", context: { eventType: "viewer-request" }, viewer: { ip: "198.51.100.7" }, request };
  return runInNewContext(`${code}\nhandler(event);`, { event }) as CloudFrontRequest;
}

describe("the console's client-side routes function", () => {
  const { code, runtime } = publishedFunction();

  it("is the generated code for the distribution's API paths, on CloudFront Functions' JavaScript 2.0 runtime", () => {
    expect(runtime).toBe(SPA_FUNCTION_RUNTIME);
    expect(code).toBe(spaRewriteFunctionCode(pathPrefixesOf(CONSOLE_API_PATH_PATTERNS)));
  });

  it.each(["/", "/tenants", "/tenants/acme/events", "/tenants/acme/agents/coder-1/crash-context", "/invitations/accept", "/operator/callback"])(
    "serves the app for the client-side route %s",
    (uri) => {
      expect(viewerRequest(code, uri).uri).toBe("/index.html");
    },
  );

  it.each(["/index.html", "/config.json", "/assets/index-1a2b3c4d.js", "/assets/index-5e6f.css", "/favicon.svg", "/robots.txt"])("leaves the file %s alone", (uri) => {
    expect(viewerRequest(code, uri).uri).toBe(uri);
  });

  it.each(["/v1", "/v1/", "/v1/tenants", "/v1/tenants/acme/token", "/v1/events", "/v1/events/0190c3a1", "/v1/admin/tenants/acme/plan", "/v1/agent/data-key", "/.well-known", "/.well-known/jwks.json", "/.well-known/openid-configuration"])(
    "never rewrites the API path %s (even if a behaviour ever sent it here)",
    (uri) => {
      expect(viewerRequest(code, uri).uri).toBe(uri);
    },
  );

  it("keeps the query string and headers of the request it rewrites", () => {
    const request = viewerRequest(code, "/tenants/acme/events", { cursor: { value: "abc" } });
    expect(request.uri).toBe("/index.html");
    expect(request.querystring).toEqual({ cursor: { value: "abc" } });
    expect(request.headers.host?.value).toBe("api.example.com");
  });

  it("refuses a path pattern it cannot turn into a prefix, naming it", () => {
    expect(() => pathPrefixesOf(["/v1/*", "/v1*"])).toThrow(ValidationError);
    expect(() => pathPrefixesOf(["/v1/*", "/v1*"])).toThrow(/patterns\[1\] = "\/v1\*"/);
  });
});
