/** Finds the standalone S3 configuration resources that belong to a bucket. */
import type { StackIndex } from "./index-of-stack.js";
import type { SynthResource } from "./types.js";
import { asString, isExpression } from "./values.js";

/**
 * Resources of `type` whose `bucket` attribute references `bucket` (`${aws_s3_bucket.b.id}` or
 * `.bucket`), or equals the bucket's literal `bucket` name.
 */
export function bucketConfigurations(index: StackIndex, type: string, bucket: SynthResource): SynthResource[] {
  const name = asString(bucket.config["bucket"]);
  return index.resources(type).filter((r) => {
    const value = r.config["bucket"];
    if (index.references(value, bucket)) return true;
    return name !== undefined && !isExpression(name) && value === name;
  });
}
