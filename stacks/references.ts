/**
 * Checks that every `${type.name...}` reference in a synthesized stack names a resource or data
 * source declared in that same stack. A reference into another stack that cdktf did not turn
 * into a remote-state lookup would otherwise only fail at `terraform plan`.
 */

const REFERENCE = /(?<![\w.-])((?:data\.)?(?:aws|kubernetes|helm|terraform)_[a-z0-9_]+)\.([A-Za-z0-9_-]+)/g;
const EXPRESSION = /\$\{([^}]*)\}/g;

type Json = { readonly [key: string]: unknown };

/** Addresses declared in the stack: `type.name` for resources, `data.type.name` for data sources. */
function declared(stack: Json): Set<string> {
  const out = new Set<string>();
  for (const [kind, prefix] of [["resource", ""], ["data", "data."]] as const) {
    const byType = (stack[kind] ?? {}) as Record<string, Record<string, unknown>>;
    for (const [type, byName] of Object.entries(byType)) for (const name of Object.keys(byName)) out.add(`${prefix}${type}.${name}`);
  }
  return out;
}

/** Every reference to an address the stack does not declare, as `path: address`. */
export function danglingReferences(stack: Json): string[] {
  const known = declared(stack);
  const problems: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (typeof value === "string") {
      for (const expr of value.matchAll(EXPRESSION)) {
        for (const ref of (expr[1] ?? "").matchAll(REFERENCE)) {
          const address = `${ref[1]}.${ref[2]}`;
          if (!known.has(address)) problems.push(`${path}: ${address}`);
        }
      }
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) if (k !== "//") walk(v, path ? `${path}.${k}` : k);
  };
  for (const kind of ["resource", "data", "output", "provider", "locals"]) walk(stack[kind], kind);
  return problems;
}

/** Throws, naming every dangling reference and the fix, if the stack has any. */
export function assertReferencesResolve(stack: Json, stackName: string): void {
  const problems = danglingReferences(stack);
  if (problems.length === 0) return;
  throw new Error(
    `${stackName}: ${problems.length} reference(s) to resources this stack does not declare:\n  ${problems.slice(0, 20).join("\n  ")}\n` +
      "Fix: reference resources of another stack only from a stack that lets cdktf prepare cross-stack references (not the foundation stack), or move the resource.",
  );
}
