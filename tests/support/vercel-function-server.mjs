// Serves one function of a `vercel build` output (.vercel/output/functions/NAME.func) over HTTP the
// way Vercel's Node runtime calls web handlers: the exported function named after the method gets a
// web Request. Prints {"port": N} once listening. Usage: node vercel-function-server.mjs FUNC_DIR
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.argv[2];
const vcConfig = JSON.parse(readFileSync(join(dir, ".vc-config.json"), "utf8"));
const handlers = await import(pathToFileURL(join(dir, vcConfig.handler)).href);

const server = createServer(async (req, res) => {
  const handler = handlers[req.method ?? "GET"];
  if (typeof handler !== "function") {
    res.writeHead(405).end();
    return;
  }
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const hasBody = !["GET", "HEAD"].includes(req.method ?? "GET");
  const request = new Request(new URL(req.url ?? "/", `http://${req.headers.host}`), {
    method: req.method,
    headers: Object.entries(req.headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
    body: hasBody ? Buffer.concat(chunks) : undefined,
  });
  const response = await handler(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
