/** A response body as the tests read it: JSON when it parses, else the text itself; empty: undefined. */
export function jsonOrText(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
