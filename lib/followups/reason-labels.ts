// The follow-up job's reason codes (why a follow-up waits, is skipped or is closed) in the words of
// the operator's page and of its simulation, in French, each with what fixes it when something can.

import type { CloseReason, SkipReason, WaitReason } from "./due-steps.js";

export interface ReasonText {
  label: string;
  /** What to do about it (a command, a button, a setting of the app); absent when it only waits. */
  fix?: string;
}

const APP_SETTINGS = "dans les réglages de l'application Lokario";

/** Every code a run reports; the typed ones are checked to be all here. */
export const REASON_TEXTS = {
  company_switch_off: { label: "relances automatiques désactivées pour l'entreprise", fix: `à activer ${APP_SETTINGS} (facturation)` },
  auto_disabled: { label: "relance non automatique", fix: "activer l'envoi automatique sur la relance, dans l'application" },
  already_done: { label: "relance déjà faite" },
  already_sent: { label: "étape déjà envoyée" },
  not_due_yet: { label: "pas encore le jour" },
  outside_sending_window: { label: "hors de la plage d'envoi de l'entreprise : part à la prochaine ouverture" },
  client_already_contacted_today: { label: "client déjà relancé aujourd'hui : part au prochain jour ouvré" },
  client_contacted_today: { label: "client déjà relancé aujourd'hui : part au prochain jour ouvré" },
  no_business_days: { label: "plage d'envoi sans aucun jour ouvré", fix: `choisir des jours d'envoi ${APP_SETTINGS} (relances)` },
  source_draft: { label: "facture ou devis encore en brouillon", fix: "envoyer le document au client dans l'application" },
  no_due_date: { label: "pas d'échéance", fix: "renseigner l'échéance dans l'application" },
  no_client_email: { label: "pas d'adresse e-mail utilisable pour le client", fix: "renseigner l'e-mail du client dans l'application" },
  no_client_phone: { label: "pas de numéro de mobile pour le client", fix: "renseigner le mobile du client dans l'application" },
  phone_unreadable: { label: "numéro du client illisible", fix: "corriger le numéro du client dans l'application" },
  phone_not_mobile: { label: "le numéro du client n'est pas un mobile", fix: "renseigner un numéro de mobile dans l'application" },
  send_in_progress: { label: "envoi en cours dans un autre passage" },
  previous_send_failed: { label: "envoi précédent refusé pour de bon", fix: "voir « Envois refusés » : corriger l'adresse du client, puis relancer à la main" },
  previous_send_uncertain: { label: "envoi incertain à trancher", fix: "boutons « Il est parti » / « Il n'est pas parti » (Envois incertains), ou lokario-cron followups resolve ID" },
  no_smtp_configured: { label: "aucun serveur d'envoi configuré", fix: "lokario-cron integrations update ID --smtp-discover sur la boîte principale de l'entreprise, ou SMTP_HOST" },
  smtp_password_unreadable: { label: "mot de passe d'envoi illisible", fix: "vérifier ENCRYPTION_KEY, ou le redonner : lokario-cron integrations update ID --smtp-password-stdin" },
  sending_limit_reached: { label: "limite d'envoi du fournisseur atteinte pour ce compte : part au passage suivant", fix: "au besoin, followups.sending_limits dans les réglages de l'entreprise" },
  sending_quota_reached: { label: "le fournisseur a suspendu les envois de ce compte (quota) : part à la fin de l'attente" },
  sending_quota_wait: { label: "compte d'envoi en attente de la fin de son quota : part à la fin de l'attente" },
  smtp_unavailable: { label: "serveur d'envoi indisponible pendant ce passage : nouvel essai au suivant" },
  mailbox_needs_reconnection: { label: "boîte d'envoi à reconnecter (OAuth2)", fix: "voir « Boîtes mail » : lokario-cron integrations connect --provider … --company …" },
  sms_not_supported: { label: "modèle en SMS sans compte SMS pour ce type de relance", fix: "lokario-cron companies sms ID, ou un modèle e-mail" },
  sms_opted_out: { label: "le client a répondu STOP aux SMS" },
  sms_too_long: { label: "SMS plus long que permis", fix: "raccourcir le modèle, ou lokario-cron companies sms ID --max-segments N" },
  sms_provider_unavailable: { label: "fournisseur SMS indisponible pendant ce passage : nouvel essai au suivant" },
  no_sms_provider: { label: "aucun compte SMS", fix: "lokario-cron companies sms ID --vonage KEY (ou --smpp URL), ou SMS_PROVIDER" },
  no_sms_sender_name: { label: "pas de nom d'expéditeur SMS", fix: "lokario-cron companies sms ID --sender-name NOM, ou SMS_SENDER_NAME" },
  sms_secret_unreadable: { label: "secret du compte SMS illisible", fix: "vérifier ENCRYPTION_KEY, ou redonner le secret avec lokario-cron companies sms ID" },
  invoice_paid: { label: "facture payée" },
  invoice_cancelled: { label: "facture annulée" },
  quote_accepted: { label: "devis accepté" },
  quote_refused: { label: "devis refusé" },
  quote_signed: { label: "devis signé" },
  source_deleted: { label: "facture ou devis supprimé" },
  client_replied: { label: "le client a répondu" },
  max_relances_reached: { label: "nombre maximal de relances atteint" },
} as const satisfies Record<SkipReason | WaitReason | CloseReason, ReasonText> & Record<string, ReasonText>;

/** The text of `code` (a code this table lacks, which a test keeps from happening, is shown as it is). */
export function reasonText(code: string): ReasonText {
  return (REASON_TEXTS as Record<string, ReasonText>)[code] ?? { label: `autre raison (${code})` };
}
