import { Route53Record } from "@cdktf/provider-aws/lib/route53-record/index.js";
import type { AcmCertificate } from "@cdktf/provider-aws/lib/acm-certificate/index.js";
import { TerraformIterator } from "cdktf";
import type { Construct } from "constructs";

/**
 * The DNS records that validate an ACM certificate, in the public zone: one per host, keyed by its
 * (known) name (`for_each` over the validation options), overwriting a record of the same name that
 * another certificate of the same host (the gateway's and the console's) may have written already.
 * Answers the records' FQDNs, for `AcmCertificateValidation.validationRecordFqdns`.
 */
export function certificateValidationRecords(scope: Construct, certificate: AcmCertificate, hostedZoneId: string): string[] {
  const options = TerraformIterator.fromComplexList(certificate.domainValidationOptions, "domain_name");
  const records = new Route53Record(scope, "certificate-validation-records", {
    forEach: options,
    zoneId: hostedZoneId,
    name: options.getString("resource_record_name"),
    type: options.getString("resource_record_type"),
    records: [options.getString("resource_record_value")],
    ttl: 300,
    allowOverwrite: true,
  });
  return TerraformIterator.fromResources(records).pluckProperty("fqdn") as unknown as string[];
}
