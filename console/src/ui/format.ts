/** Dates as the viewer's locale shows them, with the exact RFC 3339 value kept for a title. */
export function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** An abbreviated hash or key for tables (the full value stays in a title / copy button). */
export function short(value: string, keep = 12): string {
  return value.length <= keep + 1 ? value : `${value.slice(0, keep)}…`;
}

export const number = (n: number): string => n.toLocaleString();

/** A `datetime-local` input's value (local time) as RFC 3339 UTC; undefined when empty or invalid. */
export function localInputToRfc3339(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
