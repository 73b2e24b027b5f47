// The README and docs/ point at files and at each other's sections; a file moved or a heading
// renamed must not leave a reader on a dead link. Anchors are computed as GitHub computes them
// (github-slugger), so what passes here opens on GitHub.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import GithubSlugger from "github-slugger";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DOCS = [
  "README.md",
  "bench/README.md",
  ...readdirSync(join(ROOT, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`),
];

interface Link {
  from: string;
  line: number;
  target: string;
}

/** Markdown lines outside fenced code blocks, with inline code removed (a link there is not one). */
function proseLines(text: string): Array<{ line: number; text: string }> {
  const lines: Array<{ line: number; text: string }> = [];
  let isFenced = false;
  text.split("\n").forEach((line, index) => {
    if (line.startsWith("```")) isFenced = !isFenced;
    else if (!isFenced) lines.push({ line: index + 1, text: line });
  });
  return lines;
}

function linksOf(file: string): Link[] {
  const links: Link[] = [];
  for (const { line, text } of proseLines(readFileSync(join(ROOT, file), "utf8"))) {
    // Inline code goes (a link written as code is not one); a link whose text is code keeps its "](".
    const prose = text.replace(/`[^`]*`/g, "");
    for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) links.push({ from: file, line, target: match[1]! });
  }
  return links;
}

/** The anchors GitHub gives a Markdown file's headings (duplicates numbered as GitHub does). */
function anchorsOf(file: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  for (const { text } of proseLines(readFileSync(join(ROOT, file), "utf8"))) {
    const heading = /^#{1,6} (.*)$/.exec(text)?.[1];
    if (heading === undefined) continue;
    const rendered = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/`/g, "");
    anchors.add(slugger.slug(rendered));
  }
  return anchors;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

function brokenLinks(): string[] {
  const broken: string[] = [];
  for (const file of DOCS) {
    for (const link of linksOf(file)) {
      if (isExternal(link.target)) continue;
      const [path = "", anchor] = link.target.split("#", 2);
      const targetFile = path === "" ? file : relative(ROOT, resolve(ROOT, dirname(file), decodeURIComponent(path)));
      const where = `${link.from}:${link.line} → ${link.target}`;
      if (targetFile.startsWith("..") || !existsSync(join(ROOT, targetFile))) broken.push(`${where} (no such file)`);
      else if (anchor !== undefined && (statSync(join(ROOT, targetFile)).isDirectory() || !targetFile.endsWith(".md")))
        broken.push(`${where} (an anchor into a file that has no headings)`);
      else if (anchor !== undefined && !anchorsOf(targetFile).has(anchor)) broken.push(`${where} (no such heading)`);
    }
  }
  return broken;
}

describe("documentation links", () => {
  it("point only at files of the repository that exist, and at headings they have", () => {
    expect(brokenLinks()).toEqual([]);
  });

  it("are found where they are written (the README and docs/ hold links to check)", () => {
    expect(linksOf("README.md").length).toBeGreaterThan(10);
    expect(DOCS.filter((name) => name.startsWith("docs/")).flatMap(linksOf).length).toBeGreaterThan(100);
  });

  it("ends at every docs/ page from the README", () => {
    const fromReadme = new Set(linksOf("README.md").map((link) => link.target.split("#")[0]));
    const pages = DOCS.filter((name) => name.startsWith("docs/"));
    expect(pages.filter((page) => !fromReadme.has(page))).toEqual([]);
  });
});
