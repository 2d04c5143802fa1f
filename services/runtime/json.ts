/**
 * An HTTP response body read as JSON: its value when the text parses, `fallback` when it does not
 * (an HTML error page, plain text), `undefined` when the body is empty.
 */
export function parseJsonOr<T>(text: string, fallback: T): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}
