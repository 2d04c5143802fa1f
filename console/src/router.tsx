/**
 * A small history-based router: the console has a dozen flat routes, which do not need a router
 * package. The served side answers index.html for any extension-less path (the local console
 * server and the CDN's viewer-request function), so every route below is a real URL.
 */
import { forwardRef, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

const CHANGE = "console:navigate";

export interface Location {
  readonly pathname: string;
  readonly search: string;
  readonly hash: string;
}

/** Goes to a path of this origin without a page load. */
export function navigate(to: string, o: { replace?: boolean } = {}): void {
  if (o.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(CHANGE));
  window.scrollTo?.(0, 0);
}

const subscribe = (onChange: () => void) => {
  window.addEventListener("popstate", onChange);
  window.addEventListener("hashchange", onChange);
  window.addEventListener(CHANGE, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener("hashchange", onChange);
    window.removeEventListener(CHANGE, onChange);
  };
};
const snapshot = () => `${window.location.pathname}${window.location.search}${window.location.hash}`;

/** The current location; re-renders on navigation. */
export function useLocation(): Location {
  useSyncExternalStore(subscribe, snapshot);
  const { pathname, search, hash } = window.location;
  return { pathname, search, hash };
}

/** Matches `/t/:tenantId/timeline`-style patterns; answers the params or null. */
export function matchPath(pattern: string, pathname: string): Record<string, string> | null {
  const want = pattern.split("/").filter(Boolean);
  const got = pathname.split("/").filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith(":")) {
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) return null;
  }
  return params;
}

/** A real link (`<a href>`: opens in a new tab, keyboard focusable) that navigates in place on a plain click. */
export const Link = forwardRef<HTMLAnchorElement, AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }>(function Link({ onClick, ...props }, ref) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || props.target === "_blank") return;
    e.preventDefault();
    navigate(props.href);
  };
  return <a ref={ref} {...props} onClick={handle} />;
});
