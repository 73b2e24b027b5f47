// Serves one function of a Netlify build (zip-it-and-ship-it's output for a v2 function, unpacked)
// over HTTP the way Netlify runs it: AWS Lambda's Node.js runtime loads the bundle's entry point,
// whose `handler` is Netlify's own bootstrap, a response-streaming Lambda handler that turns
// Netlify's event into the web Request our default export receives. lambda-local stands in for
// Lambda's runtime (it provides `awslambda.streamifyResponse`), as in `netlify functions:serve`, and
// each request becomes the event that command builds (a scheduled function gets its scheduler's).
// Prints {"port": N} once listening. Usage: node netlify-function-server.mjs FUNCTION_DIR LIMIT_MS [scheduled]
import { createServer } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import lambdaLocal from "lambda-local";

const [dir, limitMs, kind] = process.argv.slice(2);
lambdaLocal.getLogger().level = "alert";
// Lambda runs a function from its task root, which Netlify's bootstrap also reads.
process.chdir(dir);
const lambdaFunc = await import(pathToFileURL(join(dir, "___netlify-entry-point.mjs")).href);

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const url = new URL(req.url ?? "/", `https://${process.env.SITE_NAME}.netlify.app`);
  const headers = Object.fromEntries(Object.entries(req.headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
  const event = {
    path: url.pathname,
    httpMethod: req.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: Object.fromEntries(url.searchParams),
    multiValueQueryStringParameters: Object.fromEntries([...url.searchParams.keys()].map((k) => [k, url.searchParams.getAll(k)])),
    body: Buffer.concat(chunks).toString("base64"),
    isBase64Encoded: true,
    rawUrl: url.href,
    rawQuery: url.search,
  };
  if (kind === "scheduled") {
    Object.assign(event, {
      httpMethod: "POST",
      body: JSON.stringify({ next_run: new Date(Date.now() + 60_000).toISOString() }),
      isBase64Encoded: false,
      headers: { ...headers, "user-agent": "Netlify Clockwork", "x-nf-event": "schedule" },
    });
  }
  try {
    const result = await lambdaLocal.execute({ event, lambdaFunc, clientContext: "{}", timeoutMs: Number(limitMs), verboseLevel: 0 });
    const answerHeaders = Object.entries(result.multiValueHeaders ?? {}).flatMap(([k, values]) => values.map((v) => [k, String(v)]));
    res.writeHead(result.statusCode, answerHeaders.flat());
    result.body.pipe(res);
  } catch (err) {
    res.writeHead(502, { "content-type": "text/plain" }).end(`invocation failed: ${err instanceof Error ? err.message : String(err)}`);
  }
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
