import { describe, expect, it } from "vitest";
import { parseCron } from "../../lib/jobs/cron-expression.js";

const at = (iso: string) => new Date(iso);

describe("cron expressions", () => {
  it("fires every five minutes for */5 * * * *", () => {
    const cron = parseCron("*/5 * * * *");
    expect(cron.matches(at("2026-11-25T10:05:00Z"))).toBe(true);
    expect(cron.matches(at("2026-11-25T10:00:30Z"))).toBe(true);
    expect(cron.matches(at("2026-11-25T10:07:00Z"))).toBe(false);
  });

  it("fires on the hour for 0 * * * *, in UTC", () => {
    const cron = parseCron("0 * * * *");
    expect(cron.matches(at("2026-11-25T14:00:00Z"))).toBe(true);
    expect(cron.matches(at("2026-11-25T14:30:00Z"))).toBe(false);
  });

  it("reads ranges, lists and day-of-week 7 as Sunday", () => {
    const cron = parseCron("0 8-18/2 * * 1-5");
    expect(cron.matches(at("2026-11-25T10:00:00Z"))).toBe(true); // Wednesday
    expect(cron.matches(at("2026-11-25T11:00:00Z"))).toBe(false);
    expect(cron.matches(at("2026-11-29T10:00:00Z"))).toBe(false); // Sunday
    expect(parseCron("0 0 * * 7").matches(at("2026-11-29T00:00:00Z"))).toBe(true);
    expect(parseCron("15,45 * * * *").matches(at("2026-11-25T03:45:00Z"))).toBe(true);
  });

  it("fires when either day field matches if both are restricted (POSIX)", () => {
    const cron = parseCron("0 0 1 * 1");
    expect(cron.matches(at("2026-12-01T00:00:00Z"))).toBe(true); // the 1st, a Tuesday
    expect(cron.matches(at("2026-11-30T00:00:00Z"))).toBe(true); // a Monday
    expect(cron.matches(at("2026-12-02T00:00:00Z"))).toBe(false);
  });

  it("walks to the first minute strictly after an instant, across a month, in UTC", () => {
    expect(parseCron("*/5 * * * *").nextAfter(at("2026-11-25T10:05:00Z"))).toEqual(at("2026-11-25T10:10:00Z"));
    expect(parseCron("*/5 * * * *").nextAfter(at("2026-11-25T10:05:30Z"))).toEqual(at("2026-11-25T10:10:00Z"));
    expect(parseCron("0 * * * *").nextAfter(at("2026-11-25T10:59:59Z"))).toEqual(at("2026-11-25T11:00:00Z"));
    expect(parseCron("31 2 1 * *").nextAfter(at("2026-11-25T10:00:00Z"))).toEqual(at("2026-12-01T02:31:00Z"));
    expect(parseCron("0 0 29 2 *").nextAfter(at("2026-03-01T00:00:00Z"))).toEqual(at("2028-02-29T00:00:00Z"));
  });

  it("rejects malformed expressions with the offending part", () => {
    expect(() => parseCron("* * * *")).toThrow(/^cron expression "\* \* \* \*": .*exactly five/);
    expect(() => parseCron("61 * * * *")).toThrow(/^cron expression "61 \* \* \* \*": .*minute: 61/);
    expect(() => parseCron("*/x * * * *")).toThrow(/^cron expression "\*\/x \* \* \* \*": .*illegal characters/);
    expect(() => parseCron("0 0 * * * *")).toThrow(/exactly 5 parts/); // no seconds field: the platforms read five
  });
});
