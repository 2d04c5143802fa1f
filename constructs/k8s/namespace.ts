/**
 * The one factory of the platform's namespaces: every namespace this repository creates enforces
 * Pod Security `restricted` and says what kind of workload it holds.
 */
import { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1/index.js";
import type { ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";

/** Pod Security Admission at `restricted`, enforced, audited and warned, on every namespace. */
export const RESTRICTED_NAMESPACE_LABELS = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
} as const;

/** The label saying what a namespace holds: the platform's components or a tenant worker pool. */
export const NAMESPACE_KIND_LABEL = "enchanted.io/namespace-kind";
export type NamespaceKind = "platform" | "workers";

export interface RestrictedNamespaceProps {
  readonly name: string;
  readonly kind: NamespaceKind;
  /** @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** A namespace with Pod Security `restricted` (core Kubernetes: the platform stack). */
export function addRestrictedNamespace(scope: Construct, id: string, props: RestrictedNamespaceProps): NamespaceV1 {
  return new NamespaceV1(scope, id, {
    metadata: { name: props.name, labels: { ...RESTRICTED_NAMESPACE_LABELS, [NAMESPACE_KIND_LABEL]: props.kind } },
    ...(props.dependsOn ? { dependsOn: [...props.dependsOn] } : {}),
  });
}
