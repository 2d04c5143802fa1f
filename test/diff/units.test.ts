/** The diff's building blocks on small values: paths, arrays, embedded JSON, masking. */
import { describe, expect, it } from "vitest";
import { diffValues, isSecretKey, maskText, maskValue } from "../../stacks/diff/index.js";

describe("structural diff", () => {
  it("names changed paths with old and new values, through embedded JSON", () => {
    const before = { policy: JSON.stringify({ Statement: [{ Action: ["s3:GetObject"], Resource: "arn:x" }] }), tags: { a: "1" } };
    const after = { policy: JSON.stringify({ Statement: [{ Action: "*", Resource: "arn:x" }] }), tags: { a: "1", b: "2" } };
    const changes = diffValues(before, after);
    expect(changes.map((c) => [c.kind, c.path, c.old, c.new])).toEqual([
      ["changed", "policy<json>.Statement[0].Action", ["s3:GetObject"], "*"],
      ["added", "tags.b", undefined, "2"],
    ]);
  });

  it("aligns arrays: an inserted element is one addition, not a shifted tail", () => {
    const changes = diffValues({ rules: [{ port: 1 }, { port: 2 }, { port: 3 }] }, { rules: [{ port: 1 }, { port: 9 }, { port: 2 }, { port: 3 }] });
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: "added", path: "rules[1]", new: { port: 9 } });
  });

  it("compares multi-line text by line, and Helm values as YAML", () => {
    const sql = diffValues({ sql: "CREATE ROLE a;\nCREATE QUOTA q MAX queries = 1;\n" }, { sql: "CREATE ROLE a;\nCREATE QUOTA q MAX queries = 2;\n" });
    expect(sql[0]?.lines).toEqual({ removed: ["CREATE QUOTA q MAX queries = 1;"], added: ["CREATE QUOTA q MAX queries = 2;"] });
    const helm = diffValues({ values: ["replicas: 1\nservice:\n  type: ClusterIP\n"] }, { values: ["replicas: 1\nservice:\n  type: LoadBalancer\n"] }, "helm_release");
    expect(helm.map((c) => [c.path, c.old, c.new])).toEqual([["values[0]<yaml>.service.type", "ClusterIP", "LoadBalancer"]]);
  });
});

describe("masking", () => {
  it("knows secret keys from references to secrets", () => {
    for (const k of ["password", "admin-password", "client_secret", "auth_token", "tls.key", "privateKey", "seed", "nkeySeed", "creds", "apiKey", "platform_admin/password"]) expect(isSecretKey(k), k).toBe(true);
    for (const k of ["secretName", "kms_key_id", "token_types", "secret_arn", "description", "name", "tenant_claim", "signing_keys", "key_prefix"]) expect(isSecretKey(k), k).toBe(false);
  });

  it("masks secret shapes inside any text", () => {
    const seed = `SA${"A".repeat(56)}`;
    const text = `seed ${seed}\nkey -----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\nurl https://u:pw123@h/x\npassword: hunter2\nCREATE USER x IDENTIFIED BY 'pw456'`;
    const masked = maskText(text);
    for (const s of [seed, "abc", "pw123", "hunter2", "pw456"]) expect(masked).not.toContain(s);
    // A public nkey has no seed inside it.
    const account = "AAZFD5LYAPF6W7NS2MOR47VWRHOJGBQ4H6J4QXIHGEYZIEHPVIND63V6";
    expect(maskText(account)).toBe(account);
    expect(maskValue({ env: { DB_PASSWORD: "x1" }, nested: JSON.stringify({ token: "t2" }) })).toEqual({ env: { DB_PASSWORD: "«masked»" }, nested: JSON.stringify({ token: "«masked»" }) });
  });
});
