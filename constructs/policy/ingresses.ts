/**
 * Reading the Kong Ingresses of a synthesized stack (`kubernetes_ingress_v1` whose class is Kong's)
 * for the gateway rules: their annotations, their paths with backends, and the KongPlugins and
 * KongClusterPlugins (`kubernetes_manifest`) an Ingress names.
 */
import { GATEWAY_INGRESS_CLASS as KONG_INGRESS_CLASS } from "../platform-interfaces.js";
import type { StackIndex } from "./index-of-stack.js";
import type { SynthResource } from "./types.js";
import { asNumber, asString, blocks, firstBlock, isRecord, isTrue } from "./values.js";

/** One path of an Ingress (or its default backend: `path` undefined), with its backend Service. */
export interface IngressRoute {
  readonly label: string;
  readonly host: string | undefined;
  readonly path: string | undefined;
  readonly service: string | undefined;
  readonly portNumber: number | undefined;
  readonly portName: string | undefined;
}

/** The Ingress's annotations. */
export function ingressAnnotations(resource: SynthResource): Record<string, string> {
  const annotations = firstBlock(resource.config["metadata"])?.["annotations"];
  if (!isRecord(annotations)) return {};
  return Object.fromEntries(Object.entries(annotations).filter((e): e is [string, string] => typeof e[1] === "string"));
}

/** Whether Kong's controller serves this Ingress (spec.ingress_class_name or the legacy annotation). */
export function isKongIngress(resource: SynthResource): boolean {
  const spec = firstBlock(resource.config["spec"]);
  return asString(spec?.["ingress_class_name"]) === KONG_INGRESS_CLASS || ingressAnnotations(resource)["kubernetes.io/ingress.class"] === KONG_INGRESS_CLASS;
}

function backendOf(backend: Record<string, unknown> | undefined): Pick<IngressRoute, "service" | "portNumber" | "portName"> {
  const service = firstBlock(backend?.["service"]);
  const port = firstBlock(service?.["port"]);
  return { service: asString(service?.["name"]), portNumber: asNumber(port?.["number"]), portName: asString(port?.["name"]) };
}

/** Every path the Ingress publishes, and its default backend when it has one. */
export function ingressRoutes(resource: SynthResource): IngressRoute[] {
  const spec = firstBlock(resource.config["spec"]);
  const routes: IngressRoute[] = [];
  const fallback = firstBlock(spec?.["default_backend"]);
  if (fallback) routes.push({ label: "spec.default_backend", host: undefined, path: undefined, ...backendOf(fallback) });
  blocks(spec?.["rule"]).forEach((rule, r) => {
    blocks(firstBlock(rule["http"])?.["path"]).forEach((p, i) => {
      routes.push({ label: `spec.rule[${r}].http.path[${i}]`, host: asString(rule["host"]), path: asString(p["path"]), ...backendOf(firstBlock(p["backend"])) });
    });
  });
  return routes;
}

/** The Kong plugins (by their Kong plugin name, e.g. `tenant-gate`) of the KongPlugins and KongClusterPlugins the Ingress names. */
export function namedKongPlugins(resource: SynthResource, index: StackIndex): { name: string; plugin: string | undefined; config: unknown }[] {
  const names = (ingressAnnotations(resource)["konghq.com/plugins"] ?? "").split(",").map((n) => n.trim()).filter(Boolean);
  const manifests = index
    .resources("kubernetes_manifest")
    .map((m) => m.config["manifest"])
    .filter(isRecord)
    .filter((m) => m["kind"] === "KongClusterPlugin" || m["kind"] === "KongPlugin");
  return names.map((name) => {
    const found = manifests.find((m) => isRecord(m["metadata"]) && m["metadata"]["name"] === name && !isTrue(m["disabled"]));
    return { name, plugin: asString(found?.["plugin"]), config: found?.["config"] };
  });
}
