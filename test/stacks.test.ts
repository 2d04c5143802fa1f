import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { StorageClassV1 } from "@cdktf/provider-kubernetes/lib/storage-class-v1/index.js";
import { describe, expect, it } from "vitest";
import { CAPACITY_ASSUMPTIONS, capacityModel, MEASURED_INPUTS } from "../config/capacity.js";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog, TERRAFORM_REQUIRED_VERSION } from "../config/index.js";
import { INGESTOR_NAME } from "../constructs/ingestor.js";
import { evaluatePolicy } from "../constructs/policy/index.js";
import { App, Aspects, DefaultTokenResolver, Fn, StringConcat, TerraformStack, Token, Tokenization } from "cdktf";
import { Vpc } from "@cdktf/provider-aws/lib/vpc/index.js";
import { takeValidatedTerraform } from "../constructs/policy/index.js";
import { addAllEnvironments } from "../stacks/app.js";
import { EnvironmentStack, onlyLocalReferences, resolveTokenBearing, STACK_KINDS, stackName, tokenBearingValues } from "../stacks/environment-stack.js";
import { DEFAULT_STORAGE_CLASS } from "../stacks/platform-stack.js";
import { ALL_STACKS, helmValuesOf, stackOf, synthAllEnvironments, synthApp } from "./support/synth.js";

describe("every environment stack", () => {
  it("exists for every environment: <env>-foundation and <env>-platform", () => {
    expect(Object.keys(synthAllEnvironments()).sort()).toEqual(
      ENVIRONMENT_NAMES.flatMap((env) => STACK_KINDS.map((kind) => stackName(env, kind))).sort(),
    );
  });

  it("keeps its own state: an S3 backend with a key no other stack uses, encrypted and locked", () => {
    const keys = new Set<string>();
    for (const [env, kind] of ALL_STACKS) {
      const config = loadEnvironment(env);
      const backend = stackOf(env, kind).json.terraform?.backend?.s3;
      expect(backend).toEqual({
        bucket: config.stateBackend.bucket,
        key: `${config.stateBackend.keyPrefix}/${env}-${kind}.tfstate`,
        region: config.stateBackend.region,
        encrypt: true,
        kms_key_id: config.stateBackend.kmsKeyArn,
        use_lockfile: true,
      });
      keys.add(`${backend?.bucket}/${backend?.key}`);
    }
    expect(keys.size).toBe(ALL_STACKS.length);
  });

  it("requires a Terraform that supports S3-native locking", () => {
    for (const [env, kind] of ALL_STACKS) expect(stackOf(env, kind).json.terraform?.required_version).toBe(TERRAFORM_REQUIRED_VERSION);
  });

  it.each(ALL_STACKS)("%s-%s has no unsuppressed policy finding", (env, kind) => {
    const stack = stackOf(env, kind);
    expect(evaluatePolicy(stack.json as never, { suppressions: stack.suppressions }).filter((f) => !f.suppressed)).toEqual([]);
  });
});

describe("EnvironmentStack's prepare phase and toTerraform (cdktf resolves only token-bearing values)", () => {
  it("synthesizes byte for byte what cdktf's own prepare phase and toTerraform do, cross-stack outputs and remote state included", () => {
    const ours = synthAllEnvironments();
    const prepare = Object.getOwnPropertyDescriptor(EnvironmentStack.prototype, "prepareStack");
    const toTerraform = Object.getOwnPropertyDescriptor(EnvironmentStack.prototype, "toTerraform");
    if (!prepare || !toTerraform) throw new Error("EnvironmentStack no longer overrides prepareStack and toTerraform: rework this test");
    // cdktf's prepare phase and toTerraform as they are without the overrides (the policy pack's
    // validation still hands its JSON to the write, as it does in ours).
    Object.defineProperty(EnvironmentStack.prototype, "prepareStack", { value: TerraformStack.prototype.prepareStack, configurable: true, writable: true });
    Object.defineProperty(EnvironmentStack.prototype, "toTerraform", {
      value(this: EnvironmentStack) {
        return takeValidatedTerraform(this) ?? TerraformStack.prototype.toTerraform.call(this);
      },
      configurable: true,
      writable: true,
    });
    let theirs: ReturnType<typeof synthApp>;
    try {
      theirs = synthApp((app) => addAllEnvironments(app));
    } finally {
      Object.defineProperty(EnvironmentStack.prototype, "prepareStack", prepare);
      Object.defineProperty(EnvironmentStack.prototype, "toTerraform", toTerraform);
    }
    expect(Object.keys(theirs).sort()).toEqual(Object.keys(ours).sort());
    for (const name of Object.keys(ours)) expect(ours[name]?.text, name).toBe(theirs[name]?.text);
    // The stacks do reference each other: the equality above covers cross-stack references.
    expect(Object.keys(ours["prod-workloads"]?.json.data?.["terraform_remote_state"] ?? {}).length).toBeGreaterThan(0);
  });

  it("finds every kind of token cdktf encodes, and nothing in plain values", () => {
    const resolvable = { resolve: () => "x", creationStack: [] };
    const stringToken = `prefix-${Token.asString(resolvable)}-suffix`;
    const listToken = Token.asList(resolvable);
    const numberToken = Token.asNumber(resolvable);
    const numberListToken = Token.asNumberList(resolvable);
    const mapToken = Token.asStringMap(resolvable);
    const nestedToken = Token.asString({ resolve: () => "y", creationStack: [] });
    const numberInString = `size-${Token.asNumber({ resolve: () => 3, creationStack: [] })}`;
    const found = tokenBearingValues({
      plain: ["a", 1, true, null, { deep: "text", n: 2 }, new Date(0)],
      str: stringToken,
      list: ["a", ...listToken],
      numbers: [1, numberToken],
      numberList: [...numberListToken],
      count: numberToken,
      map: mapToken,
      obj: resolvable,
      nested: { inner: [nestedToken] },
      numberInString,
    });
    expect(found).toEqual([stringToken, ["a", ...listToken], [1, numberToken], [...numberListToken], numberToken, mapToken, resolvable, nestedToken, numberInString]);
    expect(tokenBearingValues({ a: ["b", { c: "d", e: 5, f: false }], g: "2012-10-17", h: 1e300 / 1e300 })).toEqual([]);
  });

  it("resolves like cdktf: tokens by cdktf, plain values as they are, undefined entries dropped", () => {
    const app = new App({ stackTraces: false });
    const stack = new TerraformStack(app, "s");
    const resolvable = { resolve: () => ({ from: "token", n: 1 }), creationStack: [] };
    const value = {
      kept: "text",
      gone: undefined,
      list: ["a", undefined, 2, { x: undefined, y: `v-${Token.asString({ resolve: () => "w", creationStack: [] })}` }],
      token: resolvable,
      count: Token.asNumber({ resolve: () => 7, creationStack: [] }),
      when: new Date(0),
      sized: `n=${Token.asNumber({ resolve: () => 3, creationStack: [] })}`,
    };
    const options = { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) };
    const expected: unknown = Tokenization.resolve(value, options);
    const parts: unknown[] = [];
    const ours = resolveTokenBearing(value, (part) => {
      parts.push(part);
      return Tokenization.resolve(part, options);
    });
    expect(ours).toEqual(expected);
    expect(JSON.stringify(ours)).toBe(JSON.stringify(expected));
    // Only the four token-bearing parts went to cdktf.
    expect(parts).toEqual([value.list[3] && (value.list[3] as { y: string }).y, resolvable, value.count, value.sized]);
  });

  it("builds each element's body again when an aspect is attached (cdktf runs aspects after the prepare phase)", () => {
    const [dev] = ENVIRONMENT_NAMES;
    const stacks = synthApp((app) => {
      const platform = addAllEnvironments(app, [loadEnvironment(dev)])[dev]?.platform;
      if (!platform) throw new Error("no platform stack");
      // cdktf invokes the aspects of each stack and below (not the app's) when it synthesizes the stack.
      Aspects.of(platform).add({
        visit(node) {
          if (node instanceof StorageClassV1) node.reclaimPolicy = "set-by-aspect";
        },
      });
    });
    const classes = Object.values(stacks[stackName(dev, "platform")]?.json.resource?.["kubernetes_storage_class_v1"] ?? {});
    expect(classes.length).toBeGreaterThan(0);
    for (const c of classes) expect(c["reclaim_policy"]).toBe("set-by-aspect");
  });

  it("refuses nothing cdktf would: a reference within a stack is inert while preparing, one into another stack is not", () => {
    const app = new App({ stackTraces: false });
    const a = new TerraformStack(app, "a");
    const b = new TerraformStack(app, "b");
    const vpc = new Vpc(a, "vpc", { cidrBlock: "10.0.0.0/16" });
    expect(onlyLocalReferences(vpc.id, a)).toBe(true);
    expect(onlyLocalReferences(`arn:${vpc.arn}/x`, a)).toBe(true);
    expect(onlyLocalReferences(vpc.id, b)).toBe(false);
    expect(onlyLocalReferences(Fn.upper(vpc.id), a)).toBe(false);
    expect(onlyLocalReferences("plain", a)).toBe(false);
  });
});

describe("stacks/synth.cjs (the app's entry)", () => {
  it("defers cdktf's zip library until something uses it, and then hands over the real one", () => {
    const script = `
      const { deferArchiver } = require("./stacks/synth.cjs");
      const real = () => Object.keys(require.cache).some((k) => k.includes("/node_modules/archiver/lib/"));
      deferArchiver();
      require("cdktf");
      const atStart = real();
      const archiver = require(require.resolve("archiver", { paths: [require.resolve("cdktf")] }));
      const zip = archiver("zip", { zlib: { level: 1 } });
      console.log(JSON.stringify({ atStart, zip: typeof zip.pipe, create: typeof archiver.create, afterUse: real() }));`;
    const result = spawnSync(process.execPath, ["-e", script], { cwd: process.cwd(), encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ atStart: false, zip: "function", create: "function", afterUse: true });
  });

  /** Every file under `dir`, by path relative to it, with its text. */
  function filesOf(dir: string): Record<string, string> {
    const files: Record<string, string> = {};
    const walk = (d: string): void => {
      for (const entry of readdirSync(d, { withFileTypes: true })) {
        const path = join(d, entry.name);
        if (entry.isDirectory()) walk(path);
        else files[relative(dir, path)] = readFileSync(path, "utf8");
      }
    };
    walk(dir);
    return files;
  }

  /** The environment of a synth child: this one's, without the variables that select what the app synthesizes. */
  function synthEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    for (const name of ["ENCHANTED_ENVIRONMENTS", "ENCHANTED_IMAGE_TAG", "ENCHANTED_STACK_TRACES", "CDKTF_CONTEXT_JSON", "SYNTH_HCL_OUTPUT"]) if (!(name in extra)) delete env[name];
    return env;
  }

  it("writes, with its npm packages compiled into the app, the same files byte for byte as the app synthesized here with the packages from node_modules", () => {
    const work = mkdtempSync(join(tmpdir(), "enchanted-synth-entry-"));
    try {
      const compiled = join(work, "compiled");
      const result = spawnSync(process.execPath, ["stacks/synth.cjs"], { cwd: process.cwd(), env: synthEnv({ CDKTF_OUTDIR: compiled }), encoding: "utf8" });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const here = join(work, "here");
      const app = new App({ outdir: here, stackTraces: false });
      addAllEnvironments(app);
      app.synth();
      const expected = filesOf(here);
      expect(Object.keys(expected)).toContain("manifest.json");
      expect(Object.keys(expected).length).toBe(1 + ENVIRONMENT_NAMES.length * STACK_KINDS.length);
      expect(filesOf(compiled)).toEqual(expected);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("writes JSON as json-stable-stringify does, byte for byte, for every kind of value that module treats apart", () => {
    type Stringify = (value: unknown, opts?: unknown) => string | undefined;
    const require = createRequire(import.meta.url);
    const { stableStringify } = require("../stacks/synth.cjs") as { stableStringify: Stringify };
    const real = createRequire(require.resolve("cdktf"))("json-stable-stringify") as Stringify;
    class WithToJson {
      constructor(readonly inner: unknown) {}
      toJSON(): unknown {
        return { wrapped: this.inner };
      }
    }
    const shared = { same: "object twice, not a cycle" };
    const values: unknown[] = [
      { b: 1, a: [1, "two", null, true, false], c: { z: {}, y: [], x: [[]], w: [{}] } },
      { "10": "ten", "9": "nine", a: "letter", "1": "one", "": "empty key", Z: "upper", é: "accent", "a b": "space" },
      { gone: undefined, fn: () => 1, sym: Symbol("s"), kept: 0, nan: Number.NaN, inf: Number.POSITIVE_INFINITY, negZero: -0 },
      [undefined, () => 1, Symbol("s"), null, Number.NaN],
      { date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), custom: new WithToJson([1, { b: 2, a: 1 }]), nested: [new WithToJson(undefined)] },
      { text: 'quote " backslash \\ newline \n tab \t control \u0001 unicode \u2028 emoji \ud83d\ude00 lone \ud800' },
      { boxed: new String("ab"), number: new Number(3), bool: new Boolean(false) },
      { left: shared, right: [shared, { again: shared }] },
      [[[]], [{}], { a: [{ b: [] }] }],
      "top-level string",
      42,
      null,
      true,
      undefined,
      [],
      {},
      Object.create(null),
      Object.assign(Object.create({ inherited: 1 }), { own: 2 }),
      new Map([["a", 1]]),
      [, 1, , 2],
    ];
    const options: unknown[] = [undefined, { space: 2 }, { space: 4 }, { space: "\t" }, { space: "--" }, { space: 0 }, { space: 1.5 }, {}];
    for (const value of values) {
      for (const opts of options) expect(stableStringify(value, opts), JSON.stringify({ opts })).toBe(real(value, opts));
      expect(stableStringify(value)).toBe(real(value));
    }
    // The synthesized stacks are compared whole above (the in-process synth writes them with the module).
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = { back: cycle };
    expect(() => real(cycle, { space: 2 })).toThrow(TypeError);
    expect(() => stableStringify(cycle, { space: 2 })).toThrow("Converting circular structure to JSON");
    // Other options are the module's own.
    const reversed = { cmp: (a: { key: string }, b: { key: string }) => (a.key < b.key ? 1 : -1), space: 2 };
    expect(stableStringify({ a: 1, b: { c: 2, d: 3 } }, reversed)).toBe(real({ a: 1, b: { c: 2, d: 3 } }, reversed));
    expect(stableStringify({ a: 1, b: 2 }, reversed)).toBe('{\n  "b": 2,\n  "a": 1\n}');
    expect(stableStringify(cycle, { cycles: true })).toBe(real(cycle, { cycles: true }));
    expect(stableStringify({ a: [], b: 1 }, { space: 2, collapseEmpty: true })).toBe(real({ a: [], b: 1 }, { space: 2, collapseEmpty: true }));
  });

  it("runs the compiled app with V8's code cache of it, named by the compiled file's size and time, written after a synth and refused when it is not V8's", () => {
    const work = mkdtempSync(join(tmpdir(), "enchanted-synth-entry-"));
    const synthInto = (dir: string) => spawnSync(process.execPath, ["stacks/synth.cjs"], { cwd: process.cwd(), env: synthEnv({ CDKTF_OUTDIR: join(work, dir), ENCHANTED_ENVIRONMENTS: "dev" }), encoding: "utf8" });
    try {
      expect(synthInto("first").stderr).toBe("");
      const compiled = join(process.cwd(), ".gen", "synth.cjs");
      const { size, mtimeMs } = statSync(compiled);
      const cache = `${compiled}.${size}-${Math.trunc(mtimeMs)}.v8cache`;
      expect(existsSync(cache)).toBe(true);
      // Not a code cache at all: V8 refuses it, the synth compiles as without one and writes a real one.
      writeFileSync(cache, "not a code cache");
      const second = synthInto("second");
      expect(second.stderr).toBe("");
      expect(second.status).toBe(0);
      expect(readFileSync(cache).length).toBeGreaterThan(100_000);
      const third = synthInto("third");
      expect(third.status).toBe(0);
      const first = filesOf(join(work, "first"));
      expect(Object.keys(first).length).toBe(1 + STACK_KINDS.length);
      expect(filesOf(join(work, "second"))).toEqual(first);
      expect(filesOf(join(work, "third"))).toEqual(first);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("leaves out of the compiled app only cdktf's zip module, which zips an asset by running its own file, and that still zips", () => {
    const work = mkdtempSync(join(tmpdir(), "enchanted-synth-entry-"));
    try {
      // Builds .gen/synth.cjs if anything changed.
      const synth = spawnSync(process.execPath, ["stacks/synth.cjs"], { cwd: process.cwd(), env: synthEnv({ CDKTF_OUTDIR: join(work, "out"), ENCHANTED_ENVIRONMENTS: "dev" }), encoding: "utf8" });
      expect(synth.stderr).toBe("");
      mkdirSync(join(work, "asset"));
      writeFileSync(join(work, "asset", "file.txt"), "zipped\n");
      const script = `
        const { deferArchiver } = require("./stacks/synth.cjs");
        deferArchiver();
        require("./.gen/synth.cjs");
        const fromPackages = Object.keys(require.cache).filter((k) => k.includes("/node_modules/"));
        const zipModule = fromPackages.find((k) => k.endsWith("/node_modules/cdktf/lib/private/fs.js"));
        require(zipModule).archiveSync(${JSON.stringify(join(work, "asset"))}, ${JSON.stringify(join(work, "asset.zip"))});
        console.log(JSON.stringify(fromPackages.map((k) => k.slice(k.indexOf("/node_modules/")))));`;
      const result = spawnSync(process.execPath, ["-e", script], { cwd: process.cwd(), env: synthEnv({ CDKTF_OUTDIR: join(work, "out"), ENCHANTED_ENVIRONMENTS: "dev" }), encoding: "utf8" });
      expect(result.stderr).toBe("");
      // The zip module and what it loads (cdktf's error messages; the zip library's stand-in): nothing else comes from node_modules.
      expect((JSON.parse(result.stdout) as string[]).sort()).toEqual(
        ["/node_modules/cdktf/lib/errors.js", "/node_modules/cdktf/lib/private/fs.js", "/node_modules/cdktf/node_modules/archiver/index.js"].sort(),
      );
      expect(existsSync(join(work, "asset.zip"))).toBe(true);
      expect(readFileSync(join(work, "asset.zip")).subarray(0, 2).toString("latin1")).toBe("PK");
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe.each(ENVIRONMENT_NAMES)("%s-platform", (env) => {
  const config = loadEnvironment(env);
  const stack = () => stackOf(env, "platform");

  it("configures Kubernetes and Helm from the foundation stack's cluster through remote state", () => {
    const remote = stack().json.data?.terraform_remote_state ?? {};
    const [refName, ref] = Object.entries(remote)[0] ?? [];
    expect(refName).toBe(`cross-stack-reference-input-${env}-foundation`);
    expect(ref).toMatchObject({ backend: "s3", config: { key: `${config.stateBackend.keyPrefix}/${env}-foundation.tfstate` } });
    const fromFoundation = expect.stringContaining(`data.terraform_remote_state.cross-stack-reference-input-${env}-foundation.outputs.`);
    expect(stack().text).toHaveProviderWithProperties(KubernetesProvider, {
      host: fromFoundation,
      cluster_ca_certificate: expect.stringMatching(/^\$\{base64decode\(data\.terraform_remote_state\./),
      exec: [expect.objectContaining({ command: "aws", args: expect.arrayContaining(["eks", "get-token", "--region", config.aws.region]) })],
    });
    expect(stack().text).toHaveProviderWithProperties(HelmProvider, { kubernetes: expect.objectContaining({ host: fromFoundation }) });
  });

  it("makes encrypted gp3 with the environment's EBS key the default StorageClass", () => {
    expect(stack().text).toHaveResourceWithProperties(StorageClassV1, {
      metadata: { name: DEFAULT_STORAGE_CLASS, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
      storage_provisioner: "ebs.csi.aws.com",
      parameters: expect.objectContaining({ type: "gp3", encrypted: "true", kmsKeyId: expect.stringContaining("cross-stack-output-aws_kms_keyebs-key") }),
    });
  });

  it("exports what it reads as outputs of the foundation stack", () => {
    const outputs = Object.keys(stackOf(env, "foundation").json.output ?? {});
    const used = [...stack().text.matchAll(/outputs\.([\w-]+)/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(outputs).toContain(name);
  });
});

describe.each(ENVIRONMENT_NAMES)("%s: Keycloak's pods and Aurora's instances", (env) => {
  const config = loadEnvironment(env);
  const keycloakValues = () => helmValuesOf(stackOf(env, "workloads"), "keycloakx") as { replicas: number };

  it("runs keycloak.replicas Keycloak pods while Aurora keeps platformReplicas instances", () => {
    expect(keycloakValues().replicas).toBe(config.keycloak.replicas);
    expect(Object.keys(stackOf(env, "platform").json.resource?.aws_rds_cluster_instance ?? {})).toHaveLength(config.platformReplicas);
  });

  if (env === "prod") {
    it("runs the capacity model's Keycloak pods (3) on 2 Aurora instances", () => {
      expect(keycloakValues().replicas).toBe(capacityModel(MEASURED_INPUTS, CAPACITY_ASSUMPTIONS, loadTierCatalog()).keycloak.pods);
      expect(keycloakValues().replicas).toBe(3);
      expect(Object.keys(stackOf(env, "platform").json.resource?.aws_rds_cluster_instance ?? {})).toHaveLength(2);
    });
  }
});

describe.each(ENVIRONMENT_NAMES)("%s: the ingestor's CPU request", (env) => {
  const config = loadEnvironment(env);
  const ingestorContainers = () =>
    Object.values(stackOf(env, "workloads").json.resource?.kubernetes_manifest ?? {})
      .map((r) => r.manifest as Record<string, any>)
      .filter((m) => m.kind === "Deployment" && String(m.metadata.name).startsWith(INGESTOR_NAME))
      .map((m) => m.spec.template.spec.containers[0] as { resources: { requests: { cpu: string }; limits: Record<string, string> } });

  it("is ingestor.cpuRequestMillicores in every ingestor's Deployment, with no CPU limit", () => {
    expect(ingestorContainers().length).toBe(1 + config.nats.siloTenants.length);
    for (const c of ingestorContainers()) {
      expect(c.resources.requests.cpu).toBe(`${config.ingestor.cpuRequestMillicores}m`);
      expect(c.resources.limits.cpu).toBeUndefined();
    }
  });

  if (env === "prod") {
    it("is the capacity model's whole core per replica (1000m)", () => {
      expect(ingestorContainers().map((c) => c.resources.requests.cpu)).toEqual([`${CAPACITY_ASSUMPTIONS.pods.value.ingestor.cores * 1000}m`]);
      expect(ingestorContainers()[0]?.resources.requests.cpu).toBe("1000m");
    });
  }
});

// No whole-stack snapshots: 1.7 MB of JSON that every change rewrote and no reviewer read. What a
// reviewer reads instead: the isolation and rate-limit surface per environment
// (test/surface.test.ts, test/surface/<env>.txt), the assertions of these files, and
// `npm run diff`'s per-stack changes in every pull request.
