/** IAM documents shared by the constructs: the one home of trust policies. */

/** Service principal of EKS Pod Identity: roles it lets one service account assume. */
export const POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com";

/** Services that must also be allowed `sts:TagSession` (they pass session tags). */
const TAGGING_SERVICES = new Set([POD_IDENTITY_SERVICE, "eks.amazonaws.com"]);

/**
 * A trust policy that lets `service` assume the role, only on behalf of `accountId`
 * (`aws:SourceAccount`, against the confused-deputy problem).
 */
export function serviceTrustPolicy(service: string, accountId: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: service },
        Action: TAGGING_SERVICES.has(service) ? ["sts:AssumeRole", "sts:TagSession"] : "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": accountId } },
      },
    ],
  });
}
