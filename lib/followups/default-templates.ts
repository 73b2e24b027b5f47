// The French wording used when a company has no template of its own for a follow-up type. The
// unpaid-invoice text keeps the original product's opening sentence, which customers already know.
// Lines made only of variables disappear when the variables are empty (no phone: no blank line).

import { FOLLOWUP_TYPE } from "../db/schema.js";

export interface DefaultTemplate {
  subject: string;
  content: string;
}

const SIGNATURE = `Cordialement,
{company_name}
{company_email}
{company_phone}`;

const OVERDUE: Record<string, DefaultTemplate> = {
  [FOLLOWUP_TYPE.unpaidInvoice]: {
    subject: "Relance : facture {document_number} en attente de règlement",
    content: `Bonjour {client_name},

Nous vous contactons concernant votre facture {document_number} d'un montant de {amount} €. Cette facture est en attente de règlement depuis son échéance du {due_date}.

Si vous avez déjà effectué le paiement, merci de ne pas tenir compte de ce message. Dans le cas contraire, nous vous remercions de bien vouloir procéder au règlement dans les meilleurs délais.

Nous restons à votre disposition pour toute question.

${SIGNATURE}`,
  },
  [FOLLOWUP_TYPE.unansweredQuote]: {
    subject: "Votre devis {document_number}",
    content: `Bonjour {client_name},

Nous revenons vers vous au sujet de notre devis {document_number} d'un montant de {amount} €, qui attend toujours votre réponse.

Avez-vous pu en prendre connaissance ? Nous sommes à votre disposition pour en discuter ou l'ajuster si besoin.

${SIGNATURE}`,
  },
  [FOLLOWUP_TYPE.missingInfo]: {
    subject: "Informations manquantes : {source_label}",
    content: `Bonjour {client_name},

Pour avancer sur {source_label}, il nous manque encore quelques informations de votre part.

Pourriez-vous nous les transmettre en réponse à ce message ?

${SIGNATURE}`,
  },
  [FOLLOWUP_TYPE.appointmentReminder]: {
    subject: "Rappel de votre rendez-vous",
    content: `Bonjour {client_name},

Nous vous rappelons votre rendez-vous ({source_label}) prévu le {due_date}.

En cas d'empêchement, merci de nous prévenir en réponse à ce message.

${SIGNATURE}`,
  },
  [FOLLOWUP_TYPE.inactiveClient]: {
    subject: "Des nouvelles de votre part ?",
    content: `Bonjour {client_name},

Nous n'avons pas eu de nouvelles depuis quelque temps et souhaitions savoir si nous pouvons vous aider sur un nouveau projet.

N'hésitez pas à nous répondre directement.

${SIGNATURE}`,
  },
  [FOLLOWUP_TYPE.pendingProject]: {
    subject: "Votre projet : {source_label}",
    content: `Bonjour {client_name},

Nous revenons vers vous au sujet de {source_label}, actuellement en attente.

Pouvons-nous convenir des prochaines étapes ensemble ?

${SIGNATURE}`,
  },
};

/** For a type the product does not know (a newer app version may add some). */
const GENERIC: DefaultTemplate = {
  subject: "Relance : {source_label}",
  content: `Bonjour {client_name},

Nous revenons vers vous au sujet de {source_label}.

Nous restons à votre disposition pour toute question.

${SIGNATURE}`,
};

const BEFORE_DUE: Record<string, DefaultTemplate> = {
  [FOLLOWUP_TYPE.unpaidInvoice]: {
    subject: "Rappel : échéance de la facture {document_number} le {due_date}",
    content: `Bonjour {client_name},

Pour rappel, votre facture {document_number} d'un montant de {amount} € arrive à échéance le {due_date}.

Si le règlement est déjà en cours, merci de ne pas tenir compte de ce message.

${SIGNATURE}`,
  },
  [FOLLOWUP_TYPE.unansweredQuote]: {
    subject: "Votre devis {document_number} est valable jusqu'au {due_date}",
    content: `Bonjour {client_name},

Pour rappel, notre devis {document_number} d'un montant de {amount} € est valable jusqu'au {due_date}.

Nous restons à votre disposition pour toute question.

${SIGNATURE}`,
  },
};

/** The default wording for a follow-up type, before or after the due date. */
export function defaultTemplateFor(type: string, isBeforeDue: boolean): DefaultTemplate {
  if (isBeforeDue && BEFORE_DUE[type]) return BEFORE_DUE[type];
  return OVERDUE[type] ?? GENERIC;
}
