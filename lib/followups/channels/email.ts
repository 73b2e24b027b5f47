// The email channel: SMTP through the company's mailbox or the global relay (send-followup.ts).

import { type SendRequest, sendFollowup } from "../send-followup.js";
import type { FollowupChannel } from "./channel.js";

export const emailChannel: FollowupChannel<SendRequest> = {
  name: "email",
  send: sendFollowup,
};
