// The due-step rule on its own (no database): which email is due when, what stops a follow-up, and
// the sending window in the company's time zone, daylight-saving changes included.
// Paris is UTC+1 until 29 March 2026 02:00 and from 25 October 2026 03:00, UTC+2 in between.

import { describe, expect, it } from "vitest";
import { type DueStepInput, dueStep } from "../../lib/followups/due-steps.js";
import { type FollowupSettings, parseFollowupSettings } from "../../lib/followups/settings.js";
import { DUE_DATE, SWITCHED_ON } from "./seed.js";

const at = (iso: string) => new Date(iso);

function settingsWith(extra: Record<string, unknown> = {}, billing = SWITCHED_ON.billing): FollowupSettings {
  const { settings, warnings } = parseFollowupSettings({ billing, followups: extra });
  expect(warnings).toEqual([]);
  return settings;
}

function input(overrides: Partial<DueStepInput> = {}): DueStepInput {
  return {
    now: at("2026-03-09T08:00:00Z"),
    settings: settingsWith(),
    followup: { status: "À faire", kind: "invoice", isAutoEnabled: true, autoFrequencyDays: null, shouldStopOnResponse: true },
    source: { state: "open", dueDate: DUE_DATE, amount: 1234.5, documentNumber: "FAC-1" },
    sendsAt: [],
    attempts: [],
    hasClientReplied: false,
    recipient: "client@example.com",
    lastAutomaticEmailToClientAt: undefined,
    ...overrides,
  };
}

describe("when the next follow-up is due", () => {
  it("waits until the start of the due date + 7 days before the first follow-up", () => {
    expect(dueStep(input({ now: at("2026-03-06T09:00:00Z") }))).toEqual({
      kind: "wait", reason: "not_due_yet", until: at("2026-03-08T23:00:00Z"),
    });
  });

  it("sends the first follow-up on the due date + 7 days once the window opens at 08:00 in Paris", () => {
    expect(dueStep(input({ now: at("2026-03-09T06:59:00Z") }))).toEqual({
      kind: "wait", reason: "outside_sending_window", until: at("2026-03-09T07:00:00Z"),
    });
    expect(dueStep(input({ now: at("2026-03-09T07:00:00Z") }))).toEqual({
      kind: "send", step: 1, isBeforeDue: false, reason: "overdue_followup",
    });
  });

  it("sends the second follow-up 14 days after the first one went out", () => {
    const sendsAt = [at("2026-03-09T08:00:00Z")];
    expect(dueStep(input({ sendsAt, now: at("2026-03-20T10:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-03-22T23:00:00Z") });
    expect(dueStep(input({ sendsAt, now: at("2026-03-23T08:00:00Z") }))).toMatchObject({ kind: "send", step: 2 });
  });

  it("sends the last follow-up 21 days after the second, counting calendar days across the change to summer time", () => {
    const sendsAt = [at("2026-03-09T08:00:00Z"), at("2026-03-23T08:00:00Z")];
    // 13 April 00:00 in Paris is 22:00 UTC the day before (UTC+2 by then).
    expect(dueStep(input({ sendsAt, now: at("2026-04-10T08:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-04-12T22:00:00Z") });
    expect(dueStep(input({ sendsAt, now: at("2026-04-13T06:00:00Z") }))).toMatchObject({ kind: "send", step: 3 });
  });

  it("closes the follow-up instead of sending a fourth email once max_relances is reached", () => {
    const sendsAt = [at("2026-03-09T08:00:00Z"), at("2026-03-23T08:00:00Z"), at("2026-04-13T06:00:00Z")];
    expect(dueStep(input({ sendsAt, now: at("2026-06-01T08:00:00Z") }))).toEqual({ kind: "close", reason: "max_relances_reached" });
  });

  it("counts manual sends toward max_relances", () => {
    const settings = settingsWith({ max_relances: 2 });
    const sendsAt = [at("2026-03-04T10:00:00Z"), at("2026-03-09T08:00:00Z")];
    expect(dueStep(input({ settings, sendsAt, now: at("2026-05-04T08:00:00Z") }))).toEqual({ kind: "close", reason: "max_relances_reached" });
  });

  it("numbers steps after every previous send, manual ones included, and counts the next delay from a manual send", () => {
    const sendsAt = [at("2026-03-10T14:00:00Z")]; // a user's own reminder after the due date
    expect(dueStep(input({ sendsAt, now: at("2026-03-20T08:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-03-23T23:00:00Z") });
    expect(dueStep(input({ sendsAt, now: at("2026-03-24T08:00:00Z") }))).toMatchObject({ kind: "send", step: 2 });
  });

  it("repeats the last delay past the end of the list", () => {
    const settings = settingsWith({ max_relances: 6, relance_delays: [7, 14] });
    const sendsAt = [at("2026-03-09T08:00:00Z"), at("2026-03-23T08:00:00Z"), at("2026-04-06T08:00:00Z")];
    expect(dueStep(input({ settings, sendsAt, now: at("2026-04-19T08:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-04-19T22:00:00Z") });
    expect(dueStep(input({ settings, sendsAt, now: at("2026-04-20T08:00:00Z") }))).toMatchObject({ kind: "send", step: 4 });
  });

  it("uses auto_frequency_days between sends when the follow-up sets it", () => {
    const followup = { ...input().followup, autoFrequencyDays: 3 };
    const sendsAt = [at("2026-03-09T08:00:00Z")];
    expect(dueStep(input({ followup, sendsAt, now: at("2026-03-11T08:00:00Z") }))).toMatchObject({ kind: "wait" });
    expect(dueStep(input({ followup, sendsAt, now: at("2026-03-12T08:00:00Z") }))).toMatchObject({ kind: "send", step: 2 });
  });

  it("after ten days without runs sends only the next step, once, and counts the following delay from it", () => {
    // Due 2 March; steps were due on 9 March (1st) and would have been on 23 March (2nd): the cron was down.
    const late = dueStep(input({ now: at("2026-03-25T09:00:00Z") }));
    expect(late).toEqual({ kind: "send", step: 1, isBeforeDue: false, reason: "overdue_followup" });
    const afterCatchUp = dueStep(input({ sendsAt: [at("2026-03-25T09:00:00Z")], now: at("2026-03-26T09:00:00Z") }));
    expect(afterCatchUp).toMatchObject({ kind: "wait", reason: "not_due_yet", until: at("2026-04-07T22:00:00Z") });
  });
});

describe("reminders before the due date", () => {
  const before = (extra: Record<string, unknown>) => settingsWith({ enable_relances_before: true, ...extra });

  it("sends one reminder from days_before_due days before the due date", () => {
    const settings = before({ days_before_due: 3 });
    expect(dueStep(input({ settings, now: at("2026-02-26T09:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-02-26T23:00:00Z") });
    expect(dueStep(input({ settings, now: at("2026-02-27T09:00:00Z") }))).toEqual({
      kind: "send", step: 1, isBeforeDue: true, reason: "before_due_reminder",
    });
  });

  it("after the reminder, waits for the due date + 7 days for the first follow-up", () => {
    const settings = before({ days_before_due: 3 });
    const sendsAt = [at("2026-02-27T09:00:00Z")];
    expect(dueStep(input({ settings, sendsAt, now: at("2026-02-27T15:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-03-08T23:00:00Z") });
    expect(dueStep(input({ settings, sendsAt, now: at("2026-03-09T08:00:00Z") }))).toMatchObject({ kind: "send", step: 2, isBeforeDue: false });
  });

  it("counts hours_before_due back from the due instant", () => {
    const settings = before({ hours_before_due: 72 });
    expect(dueStep(input({ settings, now: at("2026-02-26T22:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-02-26T23:00:00Z") });
    expect(dueStep(input({ settings, now: at("2026-02-27T09:00:00Z") }))).toMatchObject({ kind: "send", isBeforeDue: true });
  });

  it("sends no reminder when someone already wrote to the client in that period", () => {
    const settings = before({ days_before_due: 3 });
    const sendsAt = [at("2026-02-27T08:30:00Z")];
    expect(dueStep(input({ settings, sendsAt, now: at("2026-02-28T09:00:00Z") }))).toMatchObject({ kind: "wait", reason: "not_due_yet" });
  });

  it("sends no reminder before the due date when the setting is off", () => {
    expect(dueStep(input({ now: at("2026-02-27T09:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-03-08T23:00:00Z") });
  });
});

describe("what stops or holds a follow-up", () => {
  const due = { now: at("2026-03-10T09:00:00Z") };

  it("skips a follow-up whose kind the company has not switched on", () => {
    const settings = settingsWith({}, { auto_followups: { invoices_enabled: false, quotes_enabled: true } });
    expect(dueStep(input({ ...due, settings }))).toEqual({ kind: "skip", reason: "company_switch_off" });
    const quote = { ...input().followup, kind: "quote" as const };
    expect(dueStep(input({ ...due, settings, followup: quote }))).toMatchObject({ kind: "send" });
  });

  it("follows a kind without a company switch on its own auto_enabled flag", () => {
    const settings = settingsWith({}, { auto_followups: { invoices_enabled: false, quotes_enabled: false } });
    const other = { ...input().followup, kind: "other" as const };
    expect(dueStep(input({ ...due, settings, followup: other }))).toMatchObject({ kind: "send" });
    expect(dueStep(input({ ...due, settings, followup: { ...other, isAutoEnabled: false } }))).toEqual({ kind: "skip", reason: "auto_disabled" });
  });

  it("skips a follow-up already done", () => {
    expect(dueStep(input({ ...due, followup: { ...input().followup, status: "Fait" } }))).toEqual({ kind: "skip", reason: "already_done" });
  });

  it("closes the follow-up when the invoice is paid or cancelled, or the quote accepted, refused or signed", () => {
    for (const reason of ["invoice_paid", "invoice_cancelled", "quote_accepted", "quote_refused", "quote_signed", "source_deleted"] as const) {
      expect(dueStep(input({ ...due, source: { state: "closed", reason } }))).toEqual({ kind: "close", reason });
    }
  });

  it("closes the follow-up when the client replied and auto_stop_on_response is on, and goes on when it is off", () => {
    const sendsAt = [at("2026-03-09T08:00:00Z")];
    const now = at("2026-03-23T08:00:00Z");
    expect(dueStep(input({ now, sendsAt, hasClientReplied: true }))).toEqual({ kind: "close", reason: "client_replied" });
    const keepGoing = { ...input().followup, shouldStopOnResponse: false };
    expect(dueStep(input({ now, sendsAt, hasClientReplied: true, followup: keepGoing }))).toMatchObject({ kind: "send", step: 2 });
  });

  it("holds a draft, a client without an address and a document without a due date", () => {
    expect(dueStep(input({ ...due, source: { state: "draft" } }))).toEqual({ kind: "skip", reason: "source_draft" });
    expect(dueStep(input({ ...due, recipient: undefined }))).toEqual({ kind: "skip", reason: "no_client_email" });
    expect(dueStep(input({ ...due, source: { state: "open" } }))).toEqual({ kind: "skip", reason: "no_due_date" });
  });

  it("never tries again a step that is being sent, was refused, or may have been sent", () => {
    expect(dueStep(input({ ...due, attempts: [{ step: 1, state: "sending" }] }))).toEqual({ kind: "skip", reason: "send_in_progress" });
    expect(dueStep(input({ ...due, attempts: [{ step: 1, state: "failed" }] }))).toEqual({ kind: "skip", reason: "previous_send_failed" });
    expect(dueStep(input({ ...due, attempts: [{ step: 1, state: "uncertain" }] }))).toEqual({ kind: "skip", reason: "previous_send_uncertain" });
  });

  it("reports a step whose email went out but whose history row is gone as already sent, not as uncertain", () => {
    expect(dueStep(input({ ...due, attempts: [{ step: 1, state: "sent" }] }))).toEqual({ kind: "skip", reason: "already_sent" });
  });
});

describe("sending window and time zone", () => {
  it("waits over the weekend until Monday 08:00", () => {
    // Saturday 14 March 2026, 10:00 in Paris.
    expect(dueStep(input({ now: at("2026-03-14T09:00:00Z") }))).toEqual({
      kind: "wait", reason: "outside_sending_window", until: at("2026-03-16T07:00:00Z"),
    });
  });

  it("stops at 19:00 and waits for the next morning", () => {
    expect(dueStep(input({ now: at("2026-03-10T17:59:00Z") }))).toMatchObject({ kind: "send" });
    expect(dueStep(input({ now: at("2026-03-10T18:00:00Z") }))).toEqual({
      kind: "wait", reason: "outside_sending_window", until: at("2026-03-11T07:00:00Z"),
    });
  });

  it("opens at 08:00 local time on the day summer time starts (29 March 2026)", () => {
    const settings = settingsWith({ sending_window: { business_days: [1, 2, 3, 4, 5, 6, 7] } });
    expect(dueStep(input({ settings, now: at("2026-03-29T05:59:00Z") }))).toEqual({
      kind: "wait", reason: "outside_sending_window", until: at("2026-03-29T06:00:00Z"),
    });
    expect(dueStep(input({ settings, now: at("2026-03-29T06:00:00Z") }))).toMatchObject({ kind: "send" });
  });

  it("opens at 08:00 local time on the day winter time returns (25 October 2026)", () => {
    const settings = settingsWith({ sending_window: { business_days: [1, 2, 3, 4, 5, 6, 7] } });
    const dueDate = at("2026-10-01T22:00:00Z");
    const source = { state: "open" as const, dueDate };
    expect(dueStep(input({ settings, source, now: at("2026-10-25T06:30:00Z") }))).toEqual({
      kind: "wait", reason: "outside_sending_window", until: at("2026-10-25T07:00:00Z"),
    });
    expect(dueStep(input({ settings, source, now: at("2026-10-25T17:59:00Z") }))).toMatchObject({ kind: "send" });
    expect(dueStep(input({ settings, source, now: at("2026-10-25T18:00:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-10-26T07:00:00Z") });
  });

  it("reads business hours in the company's own time zone", () => {
    const settings = settingsWith({ sending_window: { time_zone: "America/New_York", start: "09:00", end: "17:00" } });
    // 10 March 2026 13:00 UTC is 09:00 in New York (summer time began there on 8 March).
    expect(dueStep(input({ settings, now: at("2026-03-10T12:59:00Z") }))).toMatchObject({ kind: "wait", until: at("2026-03-10T13:00:00Z") });
    expect(dueStep(input({ settings, now: at("2026-03-10T13:00:00Z") }))).toMatchObject({ kind: "send" });
  });
});

describe("one automatic email per client per day", () => {
  it("waits until the next morning when the client already got one today, in the company's time zone", () => {
    // 23:30 UTC on 9 March is already 10 March in Paris: the same local day as 08:00 UTC on 10 March.
    expect(dueStep(input({ now: at("2026-03-10T08:00:00Z"), lastAutomaticEmailToClientAt: at("2026-03-09T23:30:00Z") }))).toEqual({
      kind: "wait", reason: "client_already_contacted_today", until: at("2026-03-11T07:00:00Z"),
    });
  });

  it("sends when the client's last automatic email was on an earlier local day", () => {
    expect(dueStep(input({ now: at("2026-03-10T08:00:00Z"), lastAutomaticEmailToClientAt: at("2026-03-09T22:30:00Z") }))).toMatchObject({ kind: "send" });
  });
});
