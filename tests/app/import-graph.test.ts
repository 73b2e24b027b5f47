import { describe, expect, it } from "vitest";
import { importsOf, libFiles, roomOf } from "./lib-imports.js";

/**
 * The rooms of lib/, from the top floor down. A room may import only rooms on a lower floor
 * (rooms on one floor do not import each other); a file at lib/'s root is a room of its own.
 */
const FLOORS: readonly (readonly string[])[] = [
  ["app"], // composition: the job registry, the route table, the scheduler
  ["ops"], // the operator's status, page and endpoints, over every domain
  ["followups"],
  ["inbox", "sms"],
  ["mail", "graph", "gmail"], // the transports: IMAP and SMTP, Microsoft Graph, the Gmail API
  ["oauth", "jobs", "storage"],
  ["notify", "http"], // alerts and notifications for every domain; the portable HTTP core
  ["db", "crypto"],
  ["config.ts", "errors.ts", "log.ts", "mailbox-identity.ts", "release-memory.ts"],
];

const FLOOR_OF = new Map(FLOORS.flatMap((rooms, i) => rooms.map((room) => [room, FLOORS.length - i] as const)));

/** lib/'s import graph: each file with the lib/ files it imports (type-only ones included). */
function libGraph(): Map<string, string[]> {
  return new Map(libFiles().map((file) => [file, importsOf(file)]));
}

/** Imports that run from a room to one on its own floor or above. */
function upwardImports(graph: Map<string, string[]>): string[] {
  const upward: string[] = [];
  for (const [file, imports] of graph) {
    for (const target of imports) {
      const [from, to] = [roomOf(file), roomOf(target)];
      if (from !== to && FLOOR_OF.get(from)! <= FLOOR_OF.get(to)!) upward.push(`${file} -> ${target}`);
    }
  }
  return upward;
}

/** Every circle of imports (a strongly connected set of files, Tarjan's algorithm), as its files sorted and joined. */
function circles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (file: string) => {
    index.set(file, index.size);
    lowLink.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      if (!index.has(target)) {
        visit(target);
        lowLink.set(file, Math.min(lowLink.get(file)!, lowLink.get(target)!));
      } else if (onStack.has(target)) {
        lowLink.set(file, Math.min(lowLink.get(file)!, index.get(target)!));
      }
    }
    if (lowLink.get(file) !== index.get(file)) return;
    const members: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      members.push(member);
    } while (member !== file);
    if (members.length > 1 || graph.get(file)!.includes(file)) found.push(members.sort().join(", "));
  };
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) visit(file);
  return found.sort();
}

describe("lib/ import graph", () => {
  const graph = libGraph();

  it("places every room of lib/ on a floor", () => {
    const unplaced = [...new Set([...graph.keys()].map(roomOf))].filter((room) => !FLOOR_OF.has(room));
    expect(unplaced).toEqual([]);
  });

  it("reads imports the way tsc does: type-only, re-exports and dynamic imports count", () => {
    const source = [
      'import type { A } from "./a.js";',
      'export { B } from "../db/b.js";',
      'const c = await import("./c.js");',
      'import { d } from "drizzle-orm";',
    ].join("\n");
    expect(importsOf("inbox/x.ts", source)).toEqual(["inbox/a.ts", "db/b.ts", "inbox/c.ts"]);
  });

  it("has no import from a lower room to a higher one, nor between rooms of one floor", () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it("has no circle of imports, type-only ones included", () => {
    expect(circles(graph)).toEqual([]);
  });

  it("finds an added circle and an added upward import", () => {
    const withCircle = new Map(graph);
    withCircle.set("db/client.ts", [...graph.get("db/client.ts")!, "db/migrate.ts"]);
    withCircle.set("db/migrate.ts", [...graph.get("db/migrate.ts")!, "db/client.ts"]);
    expect(circles(withCircle)).toContain("db/client.ts, db/migrate.ts");
    const withUpward = new Map(graph);
    withUpward.set("http/respond.ts", [...graph.get("http/respond.ts")!, "ops/health.ts"]);
    expect(upwardImports(withUpward)).toContain("http/respond.ts -> ops/health.ts");
  });
});
