// A person's browser on the app's OAuth2 endpoints: it keeps the cookies they set and sends them
// back by path (as a browser does, RFC 6265 §5.4), submits their forms, and follows no redirect on
// its own, so a test sees each step. Each instance is a separate browser (a separate person).

import { OAUTH_CALLBACK_PATH, OAUTH_START_PATH } from "../../lib/oauth/oauth-endpoints.js";

type Handler = (req: Request) => Promise<Response>;

export interface AppBrowser {
  /** GET `url`, or POST `form` to it. */
  open(url: string | URL, form?: Record<string, string>): Promise<Response>;
  /** The cookies this browser holds, by name. */
  cookies: Map<string, { value: string; path: string }>;
}

export function appBrowser(endpoints: { start: Handler; callback: Handler }): AppBrowser {
  const cookies = new Map<string, { value: string; path: string }>();
  return {
    cookies,
    async open(url, form) {
      const target = new URL(url);
      const headers = new Headers();
      const sent = [...cookies].filter(([, c]) => target.pathname === c.path || target.pathname.startsWith(`${c.path.replace(/\/$/, "")}/`));
      if (sent.length > 0) headers.set("cookie", sent.map(([name, c]) => `${name}=${c.value}`).join("; "));
      if (form) headers.set("content-type", "application/x-www-form-urlencoded");
      const handler = target.pathname.endsWith(OAUTH_START_PATH) ? endpoints.start : target.pathname.endsWith(OAUTH_CALLBACK_PATH) ? endpoints.callback : undefined;
      if (!handler) throw new Error(`no endpoint at ${target.pathname}`);
      const response = await handler(new Request(target, { method: form ? "POST" : "GET", headers, body: form ? new URLSearchParams(form).toString() : undefined }));
      for (const line of response.headers.getSetCookie()) {
        const [pair, ...attributes] = line.split(";").map((part) => part.trim());
        const at = pair!.indexOf("=");
        const name = pair!.slice(0, at);
        const path = attributes.find((a) => a.toLowerCase().startsWith("path="))?.slice(5) ?? "/";
        if (attributes.some((a) => a.toLowerCase() === "max-age=0")) cookies.delete(name);
        else cookies.set(name, { value: pair!.slice(at + 1), path });
      }
      return response;
    },
  };
}

/** The `action` and the hidden fields of the page's form (HTML-unescaped), to submit it as a browser would. */
export function formOf(page: string, base: string | URL): { action: URL; fields: Record<string, string> } {
  const unescape = (text: string) => text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
  const action = /<form method="post" action="([^"]*)"/.exec(page)?.[1];
  if (action === undefined) throw new Error("the page has no form");
  const fields: Record<string, string> = {};
  for (const [, name, value] of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[name!] = unescape(value!);
  return { action: new URL(unescape(action), base), fields };
}
