// Test files take their database and peers from the fixtures of tests/support (`useDatabase`,
// `useSmtpServer`…), so that each file states only what it tests: a file that makes one in its own
// hooks again is refused here. A test that needs a second, throw-away one may still make it in its body.

import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const TESTS = fileURLToPath(new URL(".", import.meta.url));
const HOOKS = new Set(["beforeAll", "beforeEach", "afterAll", "afterEach"]);
/** What a fixture of tests/support makes, and the fixture a file uses instead. */
const MADE_BY_FIXTURES: Record<string, string> = {
  createTestDatabase: "useDatabase",
  startSmtpServer: "useSmtpServer",
  startSmppServer: "useSmppServer",
  startVonageServer: "useVonageServer",
};

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "support" || entry.name === "fixtures" ? [] : testFiles(path);
    return entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

const calledName = (call: ts.CallExpression): string | undefined =>
  ts.isIdentifier(call.expression) ? call.expression.text : undefined;

/** `file:line: name() in hook()` for each fixture's work done in a hook of `source` rather than by the fixture. */
function setUpWrittenOut(fileName: string, source: string): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node, hook: string | undefined) => {
    let inHook = hook;
    if (ts.isCallExpression(node)) {
      const name = calledName(node);
      if (name && HOOKS.has(name)) inHook = name;
      if (name && inHook && MADE_BY_FIXTURES[name]) {
        const { line } = file.getLineAndCharacterOfPosition(node.getStart());
        found.push(`${fileName}:${line + 1}: ${name}() in ${inHook}(), where ${MADE_BY_FIXTURES[name]}() does it`);
      }
    }
    ts.forEachChild(node, (child) => visit(child, inHook));
  };
  visit(file, undefined);
  return found;
}

describe("test files", () => {
  it("take their database and peers from the fixtures instead of making them in their own hooks", () => {
    const found = testFiles(TESTS).flatMap((path) => setUpWrittenOut(relative(TESTS, path), readFileSync(path, "utf8")));
    expect(found).toEqual([]);
  });

  it("are caught when a hook makes a database itself, and not when a test body makes a throw-away one", () => {
    const source = [
      "let database;",
      'beforeAll(async () => { database = await createTestDatabase("pg"); });',
      'it("needs an empty one", async () => { const empty = await createTestDatabase("pg"); });',
    ].join("\n");
    expect(setUpWrittenOut("example.test.ts", source)).toEqual([
      "example.test.ts:2: createTestDatabase() in beforeAll(), where useDatabase() does it",
    ]);
  });
});
