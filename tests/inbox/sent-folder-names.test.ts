// Which listed folders count as named like a Sent folder when the server flags none: the usual and
// localised names at the top, under a hosting panel's INBOX or under Gmail's folder; never a user's
// folder deeper down or one whose name only starts like Sent.

import { describe, expect, it } from "vitest";
import { isNamedSent } from "../../lib/inbox/imap/sent-folders.js";

const folder = (path: string, delimiter = ".") => ({ path, delimiter, name: path.split(delimiter).pop()!, flags: new Set<string>() });

describe("folders named like a Sent folder", () => {
  it.each([
    ["Sent"], ["Sent Items"], ["INBOX.Éléments envoyés"], ["INBOX.Messages envoyés"], ["INBOX.Sent Mail"], ["Gesendet"], ["Posta inviata"],
    ["INBOX.Envoye\u0301s"], ["[Gmail]/Messages envoyés", "/"],
  ])("counts %s", (path, delimiter = ".") => {
    expect(isNamedSent(folder(path, delimiter))).toBe(true);
  });

  it.each([["Sent to clients"], ["Clients.Sent"], ["INBOX.Archives.Sent"], ["Outbox"], ["Drafts"]])("does not count %s", (path) => {
    expect(isNamedSent(folder(path))).toBe(false);
  });
});
