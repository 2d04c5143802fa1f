/**
 * Binds the matchers that `cdktf` ships (cdktf/lib/testing/matchers) to vitest's `expect`.
 *
 * cdktf only ships a Jest adapter (`Testing.setupJest()`), and there is no `jest-cdktf-matchers`
 * package; the matcher functions themselves are framework-neutral, so this file gives them the
 * one framework-specific piece they need: a deep "array contains an object like this" check.
 * `toBeValidTerraform` / `toPlanSuccessfully` are left out on purpose: they shell out to
 * `terraform`, which these machines do not have.
 */
import { expect } from "vitest";
import {
  getToHaveDataSourceWithProperties,
  getToHaveProviderWithProperties,
  getToHaveResourceWithProperties,
  returnMatcherToJest,
  type TerraformConstructor,
} from "cdktf/lib/testing/matchers.js";

function vitestPassEvaluation(items: unknown[], asserted: Record<string, unknown>): boolean {
  if (Object.keys(asserted).length === 0) return items.length > 0;
  return expect.arrayContaining([expect.objectContaining(asserted)]).asymmetricMatch(items);
}

const toHaveResourceWithProperties = getToHaveResourceWithProperties(vitestPassEvaluation);
const toHaveDataSourceWithProperties = getToHaveDataSourceWithProperties(vitestPassEvaluation);
const toHaveProviderWithProperties = getToHaveProviderWithProperties(vitestPassEvaluation);

expect.extend({
  toHaveResource(received: string, type: TerraformConstructor) {
    return returnMatcherToJest(toHaveResourceWithProperties(received, type, {}));
  },
  toHaveResourceWithProperties(received: string, type: TerraformConstructor, properties: Record<string, unknown>) {
    return returnMatcherToJest(toHaveResourceWithProperties(received, type, properties));
  },
  toHaveDataSource(received: string, type: TerraformConstructor) {
    return returnMatcherToJest(toHaveDataSourceWithProperties(received, type, {}));
  },
  toHaveDataSourceWithProperties(received: string, type: TerraformConstructor, properties: Record<string, unknown>) {
    return returnMatcherToJest(toHaveDataSourceWithProperties(received, type, properties));
  },
  toHaveProvider(received: string, type: TerraformConstructor) {
    return returnMatcherToJest(toHaveProviderWithProperties(received, type, {}));
  },
  toHaveProviderWithProperties(received: string, type: TerraformConstructor, properties: Record<string, unknown>) {
    return returnMatcherToJest(toHaveProviderWithProperties(received, type, properties));
  },
});

interface CdktfMatchers<R = unknown> {
  toHaveResource(type: TerraformConstructor): R;
  toHaveResourceWithProperties(type: TerraformConstructor, properties: Record<string, unknown>): R;
  toHaveDataSource(type: TerraformConstructor): R;
  toHaveDataSourceWithProperties(type: TerraformConstructor, properties: Record<string, unknown>): R;
  toHaveProvider(type: TerraformConstructor): R;
  toHaveProviderWithProperties(type: TerraformConstructor, properties: Record<string, unknown>): R;
}

declare module "vitest" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Assertion<T = any> extends CdktfMatchers<T> {}
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AsymmetricMatchersContaining extends CdktfMatchers {}
}
