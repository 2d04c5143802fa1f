/**
 * Extracts IAM policy statements from the resources that carry identity policies, normalised so
 * the IAM rules can read JSON policy documents (`policy` strings) and `aws_iam_policy_document`
 * data sources the same way.
 */
import { fromProblems, notApplicable } from "./results.js";
import type { RuleResult, SynthResource } from "./types.js";
import { asStringArray, blocks, isRecord } from "./values.js";

/**
 * Element types that carry identity-based policies. KMS key policies (aws_kms_key.policy,
 * aws_kms_key_policy) are deliberately absent: there `Resource: "*"` means the key itself.
 */
export const IAM_POLICY_TYPES: readonly string[] = [
  "aws_iam_policy",
  "aws_iam_role_policy",
  "aws_iam_role",
  "aws_iam_user_policy",
  "aws_iam_group_policy",
  "data.aws_iam_policy_document",
];

/** One statement, normalised. Attribute names are kept so reasons can name them. */
export interface NormalizedStatement {
  /** Where the statement is, e.g. `policy Statement[0]` or `statement[1]`. */
  readonly location: string;
  /** `Allow` or `Deny` (defaults to Allow in aws_iam_policy_document). */
  readonly effect: string;
  readonly actionAttribute: string;
  readonly actions: readonly string[] | undefined;
  /** `Action` / `actions` exactly as written (string or list), for messages. */
  readonly rawActions: unknown;
  readonly notActionAttribute: string;
  readonly notActions: readonly string[] | undefined;
  readonly resourceAttribute: string;
  readonly resources: readonly string[] | undefined;
  /** `Resource` / `resources` exactly as written, for messages. */
  readonly rawResources: unknown;
  readonly notResourceAttribute: string;
  readonly notResources: readonly string[] | undefined;
}

/** The statements of a resource, and the policy attributes that could not be read (Terraform expressions). */
export interface ExtractedStatements {
  readonly statements: readonly NormalizedStatement[];
  /** Attribute labels whose value is not parseable JSON (e.g. `${data.aws_iam_policy_document.x.json}`). */
  readonly unparsed: readonly string[];
}

/** A list attribute of a JSON policy statement: undefined when absent. */
function optionalList(value: unknown): string[] | undefined {
  return value === undefined ? undefined : asStringArray(value);
}

/** Statements of a JSON policy document given as a string (or an already-parsed object). */
function fromJsonDocument(label: string, document: unknown, into: NormalizedStatement[], unparsed: string[]): void {
  let parsed: unknown = document;
  if (typeof document === "string") {
    try {
      parsed = JSON.parse(document);
    } catch {
      unparsed.push(label);
      return;
    }
  }
  if (!isRecord(parsed)) {
    unparsed.push(label);
    return;
  }
  for (const [i, statement] of blocks(parsed["Statement"]).entries()) {
    into.push({
      location: `${label} Statement[${i}]`,
      effect: typeof statement["Effect"] === "string" ? statement["Effect"] : "Allow",
      actionAttribute: "Action",
      actions: optionalList(statement["Action"]),
      rawActions: statement["Action"],
      notActionAttribute: "NotAction",
      notActions: optionalList(statement["NotAction"]),
      resourceAttribute: "Resource",
      resources: optionalList(statement["Resource"]),
      rawResources: statement["Resource"],
      notResourceAttribute: "NotResource",
      notResources: optionalList(statement["NotResource"]),
    });
  }
}

/** Normalised statements of an element whose type is in {@link IAM_POLICY_TYPES}. */
export function extractStatements(resource: SynthResource): ExtractedStatements {
  const statements: NormalizedStatement[] = [];
  const unparsed: string[] = [];
  const c = resource.config;
  if (resource.kind === "data") {
    for (const [i, statement] of blocks(c["statement"]).entries()) {
      statements.push({
        location: `statement[${i}]`,
        effect: typeof statement["effect"] === "string" ? statement["effect"] : "Allow",
        actionAttribute: "actions",
        actions: optionalList(statement["actions"]),
        rawActions: statement["actions"],
        notActionAttribute: "not_actions",
        notActions: optionalList(statement["not_actions"]),
        resourceAttribute: "resources",
        resources: optionalList(statement["resources"]),
        rawResources: statement["resources"],
        notResourceAttribute: "not_resources",
        notResources: optionalList(statement["not_resources"]),
      });
    }
    for (const attribute of ["source_policy_documents", "override_policy_documents"]) {
      for (const [i, document] of asStringArray(c[attribute]).entries()) {
        fromJsonDocument(`${attribute}[${i}]`, document, statements, unparsed);
      }
    }
  } else if (resource.type === "aws_iam_role") {
    for (const [i, inline] of blocks(c["inline_policy"]).entries()) {
      if (inline["policy"] !== undefined) fromJsonDocument(`inline_policy[${i}].policy`, inline["policy"], statements, unparsed);
    }
  } else if (c["policy"] !== undefined) {
    fromJsonDocument("policy", c["policy"], statements, unparsed);
  }
  return { statements, unparsed };
}

/** Whether a statement allows (Effect Allow, case-insensitive). */
export function isAllow(statement: NormalizedStatement): boolean {
  return statement.effect.toLowerCase() === "allow";
}

/**
 * The common shape of the IAM rules: extract the resource's statements (not applicable when it
 * has none, or only Terraform expressions checked at their source), run `problemsOf` on every
 * Allow statement, and turn the problems found into the rule's result.
 */
export function evaluateAllowStatements(resource: SynthResource, problemsOf: (statement: NormalizedStatement) => readonly string[]): RuleResult {
  const { statements, unparsed } = extractStatements(resource);
  if (statements.length === 0) {
    return notApplicable(unparsed.length > 0 ? `${unparsed.join(", ")} is an expression, checked at its source` : "no statements");
  }
  return fromProblems(statements.filter(isAllow).flatMap((statement) => problemsOf(statement)));
}
