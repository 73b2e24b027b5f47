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

const FIXTURES = new Set(Object.values(MADE_BY_FIXTURES));
/** What a fixture's own teardown does: a hook doing it again closes the thing twice. */
const TEARDOWNS = new Set(["drop", "close"]);

/** The names bound to a fixture in `file` (`const database = useDatabase(…)`). */
function fixtureBindings(file: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isCallExpression(node.initializer)) {
      const name = calledName(node.initializer);
      if (name && FIXTURES.has(name)) names.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return names;
}

/** `x` of a call `x.drop()` or `x?.close()`, when the method is a fixture's teardown. */
function tornDown(call: ts.CallExpression): string | undefined {
  const callee = call.expression;
  if (!ts.isPropertyAccessExpression(callee) || !TEARDOWNS.has(callee.name.text)) return undefined;
  return ts.isIdentifier(callee.expression) ? callee.expression.text : undefined;
}

/**
 * `file:line: …` for each fixture's work done in a hook of `source` rather than by the fixture: a
 * database or server made there, or one the fixture made torn down there again.
 */
function setUpWrittenOut(fileName: string, source: string): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const bound = fixtureBindings(file);
  const found: string[] = [];
  const visit = (node: ts.Node, hook: string | undefined) => {
    let inHook = hook;
    if (ts.isCallExpression(node)) {
      const name = calledName(node);
      if (name && HOOKS.has(name)) inHook = name;
      const where = () => `${fileName}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
      if (name && inHook && MADE_BY_FIXTURES[name]) found.push(`${where()}: ${name}() in ${inHook}(), where ${MADE_BY_FIXTURES[name]}() does it`);
      const target = tornDown(node);
      if (target && inHook && bound.has(target)) found.push(`${where()}: ${target} torn down in ${inHook}(), where its fixture does it`);
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

  it("are caught when a hook tears down again what a fixture made, and not a throw-away one", () => {
    const source = [
      'const database = useDatabase("pg");',
      "afterAll(async () => { await database?.drop(); });",
      'it("needs an empty one", async () => { const empty = await createTestDatabase("pg"); await empty.drop(); });',
    ].join("\n");
    expect(setUpWrittenOut("example.test.ts", source)).toEqual([
      "example.test.ts:2: database torn down in afterAll(), where its fixture does it",
    ]);
  });
});
