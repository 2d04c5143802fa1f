/**
 * "Apply this file with this image, once per change": a ConfigMap holding the file and a Job that
 * mounts it, both named by a digest of the file and the image, so that a changed file or image
 * makes a new Job (which Terraform waits for) and an unchanged one makes none. The ClickHouse
 * migration and the Keycloak realm import are this.
 */
import { createHash } from "node:crypto";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";

export interface ConfigJobContainer {
  readonly name: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env: readonly Readonly<Record<string, unknown>>[];
  readonly resources: Readonly<Record<string, unknown>>;
  readonly securityContext: Readonly<Record<string, unknown>>;
}

export interface ConfigJobProps {
  /** Construct ids of the ConfigMap and the Job. */
  readonly ids: { readonly configMap: string; readonly job: string };
  readonly namespace: string;
  /** `<prefix>-<digest>` is the ConfigMap's name. */
  readonly configMapPrefix: string;
  /** `<prefix>-<digest>` is the Job's name. */
  readonly jobPrefix: string;
  /** `app.kubernetes.io/name` of the Job and its pod. */
  readonly appName: string;
  /** Labels the pod carries besides its name (the client labels other policies admit it by). @default - none */
  readonly podLabels?: Readonly<Record<string, string>>;
  /** The file: its name in the ConfigMap, its content, and the directory it is mounted at (volume `volume`). */
  readonly file: { readonly name: string; readonly content: string; readonly volume: string; readonly mountPath: string };
  readonly image: string;
  /**
   * What names the program besides the file, for the digest: a change makes a new Job. Give the
   * image's tag when the image holds a token (a repository URL from another stack), whose text
   * differs from synth to synth. @default image
   */
  readonly programVersion?: string;
  /** The numeric user (and group) the pod runs as. */
  readonly runAsUser: number;
  readonly container: ConfigJobContainer;
  /** Retries of a failed pod before the Job fails. */
  readonly backoffLimit: number;
  /** How long Terraform waits for the Job to complete, e.g. `20m`. */
  readonly timeout: string;
  /** The server the Job applies the file to: it runs only once that is up. */
  readonly server: ITerraformDependable;
  /** What else the Job waits for (the Secrets it reads, the policies that let it out). */
  readonly dependsOn: readonly ITerraformDependable[];
}

/** The first 12 hex digits of SHA-256 over the file and the image. */
export function configDigest(content: string, image: string): string {
  return createHash("sha256").update(content).update(image).digest("hex").slice(0, 12);
}

/**
 * The ConfigMap (immutable) and the Job (a plain batch/v1 manifest: the typed kubernetes_job_v1
 * loads megabytes of generated code on every synth), restricted, with a writable `/tmp`;
 * Terraform waits for the Job's Complete condition.
 */
export function addConfigJob(scope: Construct, props: ConfigJobProps): { readonly configMap: ConfigMapV1; readonly job: Manifest; readonly digest: string } {
  const digest = configDigest(props.file.content, props.programVersion ?? props.image);
  const configMap = new ConfigMapV1(scope, props.ids.configMap, {
    metadata: { name: `${props.configMapPrefix}-${digest}`, namespace: props.namespace },
    data: { [props.file.name]: props.file.content },
    immutable: true,
  });
  const c = props.container;
  const name = { "app.kubernetes.io/name": props.appName };
  const job = new Manifest(scope, props.ids.job, {
    manifest: {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: `${props.jobPrefix}-${digest}`, namespace: props.namespace, labels: name },
      spec: {
        backoffLimit: props.backoffLimit,
        template: {
          metadata: { labels: { ...name, ...props.podLabels } },
          spec: {
            restartPolicy: "OnFailure",
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: props.runAsUser, runAsGroup: props.runAsUser, seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: c.name,
                image: props.image,
                ...(c.command ? { command: [...c.command] } : {}),
                ...(c.args ? { args: [...c.args] } : {}),
                env: [...c.env],
                volumeMounts: [
                  { name: props.file.volume, mountPath: props.file.mountPath, readOnly: true },
                  { name: "tmp", mountPath: "/tmp" },
                ],
                resources: c.resources,
                securityContext: c.securityContext,
              },
            ],
            volumes: [
              { name: props.file.volume, configMap: { name: configMap.metadata.name } },
              { name: "tmp", emptyDir: {} },
            ],
          },
        },
      },
    },
    wait: { condition: [{ type: "Complete", status: "True" }] },
    timeouts: { create: props.timeout, update: props.timeout },
    dependsOn: [props.server, configMap, ...props.dependsOn],
  });
  return { configMap, job, digest };
}
