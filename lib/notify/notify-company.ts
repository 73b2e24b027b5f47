// Notices shown to a company's users when an automatic follow-up needs a human: an email that may
// have left without being recorded, or one the recipient's server refused for good.

import type { DbOrTx } from "../db/client.js";
import { notifications } from "../db/schema.js";

export const NOTIFICATION_TYPE = {
  sendUncertain: "followup_send_uncertain",
  sendFailed: "followup_send_failed",
} as const;

export interface FollowupNotice {
  companyId: number;
  followupId: number;
  step: number;
  recipient: string;
  reason?: string;
}

/** A send interrupted after SMTP was contacted: it may or may not have reached the client. */
export async function notifyUncertainSend(db: DbOrTx, notice: FollowupNotice): Promise<void> {
  await db.insert(notifications).values({
    companyId: notice.companyId,
    type: NOTIFICATION_TYPE.sendUncertain,
    title: "Relance automatique à vérifier",
    message:
      `L'envoi de la relance n°${notice.step} à ${notice.recipient} a été interrompu : elle a peut-être été envoyée. ` +
      "Elle ne sera pas renvoyée automatiquement. Vérifiez la boîte d'envoi, puis relancez manuellement si besoin.",
  });
}

/** A send refused for good by the recipient's server: it will not be retried automatically. */
export async function notifyFailedSend(db: DbOrTx, notice: FollowupNotice): Promise<void> {
  await db.insert(notifications).values({
    companyId: notice.companyId,
    type: NOTIFICATION_TYPE.sendFailed,
    title: "Relance automatique non délivrée",
    message:
      `La relance n°${notice.step} à ${notice.recipient} a été refusée par le serveur de messagerie du destinataire. ` +
      `Vérifiez l'adresse e-mail du client.${notice.reason ? ` Détail : ${notice.reason}` : ""}`,
  });
}
