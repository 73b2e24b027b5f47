// What a mailbox's state (`../mailbox-state.ts`) means, in French: a badge, a sentence that says
// what is happening and what happens next, and the button or command that gets it out of it. The
// error's own text (English, from the server or the library) follows as a smaller "Détail" line.

import { ERROR_KINDS } from "../../errors.js";
import { fixCommandsFor, type MailboxState, type MailboxStateRow } from "../mailbox-state.js";
import { html, type SafeHtml } from "../../http/html.js";
import { delegateOf } from "../../mailbox-identity.js";
import type { MailboxHealth } from "./read-mailboxes.js";
import { countOf, dateWithRelative, formatDuration, type RenderContext, withDetail } from "./render-format.js";

const PROVIDER_NAMES: Record<string, string> = { google: "Google", microsoft: "Microsoft 365", oidc: "le fournisseur OpenID Connect" };
const FOLDER_NAMES: Record<string, string> = { inbox: "INBOX", sent: "Envoyés" };

export interface MailboxExplanation {
  badge: SafeHtml;
  /** What is happening and what to do, with the detail line. */
  text: SafeHtml;
  /** When a run takes it next, in words. */
  nextTry: SafeHtml;
}

/** The explanation of `m`'s state on the page. */
export function explainMailbox(m: MailboxHealth, ctx: RenderContext): MailboxExplanation {
  const commands = fixCommandsFor(m, m.state).map((c) => html`<code>${c}</code>`);
  const provider = PROVIDER_NAMES[m.oauthProvider ?? ""] ?? "le fournisseur";
  const delegate = delegateOf(m);
  const failingSince = m.failingSince ? html` depuis ${dateWithRelative(m.failingSince, ctx)}` : "";
  const detail = m.lastSyncError;
  const when = nextTryWords(m, ctx);
  const nextTry = html`${when}${m.backoffMs !== null && m.state.nextTryAt ? html`<br><small>attente de ${formatDuration(m.backoffMs)} après ${countOf(m.consecutiveFailures, "échec")} de suite</small>` : ""}`;
  switch (m.state.code) {
    case "not-imap":
      return { badge: badge("b-off", "non synchronisée"), text: html`Ce type de boîte (${m.integrationType}) n'est pas synchronisé par ce service.`, nextTry: html`—` };
    case "disabled":
      return {
        badge: badge("b-off", "désactivée"),
        text: html`Désactivée : elle n'est plus synchronisée, son courrier reste. Pour la reprendre : bouton « Activer », ou ${commands}.`,
        nextTry: html`aucun : désactivée`,
      };
    case "reconnect-needed":
      return {
        badge: html`${badge("b-warn", "à reconnecter")}${m.oauthReconnectNeededAt ? html` depuis ${dateWithRelative(m.oauthReconnectNeededAt, ctx)}` : ""}`,
        text: withDetail(delegate
          ? html`${provider} n'accepte plus l'accès à la boîte partagée ${m.emailAddress} donné par le compte ${delegate} (autorisation révoquée ou expirée, ou ce compte n'a plus accès à la boîte) : elle n'est plus synchronisée ni utilisée pour les relances, et ne sera pas réessayée. Reconnectez-la depuis un terminal : ${commands} (un membre ayant accès à la boîte partagée donne son accord dans le navigateur ; son historique est conservé).`
          : html`${provider} a retiré l'autorisation d'accès (révoquée, ou expirée) : la boîte n'est plus synchronisée ni utilisée pour les relances, et ne sera pas réessayée. Reconnectez-la depuis un terminal : ${commands} (la personne qui possède la boîte donne son accord dans le navigateur).`, detail),
        nextTry: html`aucun : attend la reconnexion`,
      };
    case "syncing":
      return {
        badge: badge("b-warn", "synchronisation en cours"),
        text: html`Un passage la synchronise en ce moment${m.leaseUntil ? ` (au plus tard jusqu'à ${ctx.dates.hour(m.leaseUntil)})` : ""}.`,
        nextTry: html`en cours`,
      };
    case "login-refused":
      return {
        badge: html`${badge("b-ko", "identifiant refusé")}${failingSince}`,
        text: withDetail(m.authMethod === "oauth2"
          ? html`Le serveur de messagerie refuse l'accès OAuth2 de la boîte : reconnectez-la depuis un terminal : ${commands}.`
          : html`Le serveur refuse l'identifiant ou le mot de passe. Nouvel essai automatique ${when}, espacé pour ne pas faire verrouiller le compte. Donnez le bon mot de passe : ${joined(commands)}, puis « Synchroniser ».`, detail),
        nextTry,
      };
    case "folder-stopped":
      return {
        badge: html`${badge("b-ko", "dossier arrêté")}${failingSince}`,
        text: withDetail(html`Le serveur a renuméroté les messages du dossier ${m.state.stoppedFolder} à plusieurs passages de suite : ce dossier n'est plus synchronisé. Bouton « Réinitialiser ${m.state.stoppedFolder} », ou ${commands} : le prochain passage réimporte la période récente, sans doublon.`, detail),
        nextTry,
      };
    case "failing": {
      const wording = m.state.kind ? ERROR_KINDS[m.state.kind].operatorWording : "La synchronisation échoue";
      const next = m.state.kind === "transient"
        ? html`Nouvel essai automatique ${when} ; « Synchroniser » réessaie tout de suite.`
        : html`Nouvel essai ${when}, qui échouera de même tant que rien n'est corrigé : ${joined(commands)} dit quoi, puis corrigez avec <code>lokario-cron integrations update ${m.id}</code>.`;
      return { badge: html`${badge("b-ko", "en échec")}${failingSince}`, text: withDetail(html`${wording}. ${next}`, detail), nextTry };
    }
    case "never-synced":
      return {
        badge: badge("b-off", "jamais synchronisée"),
        text: html`Ajoutée, pas encore synchronisée : le prochain passage la prend (ou « Synchroniser »).`,
        nextTry,
      };
    case "ok":
      return { badge: badge("b-ok", "OK"), text: html``, nextTry };
  }
}

/** Why the page's "Synchroniser" cannot sync a mailbox now, and what to do: a flash sentence. */
export function whyNotSynced(row: MailboxStateRow, state: MailboxState): string {
  const fix = fixCommandsFor(row, state).join(", puis ");
  const provider = PROVIDER_NAMES[row.oauthProvider ?? ""] ?? "le fournisseur";
  switch (state.code) {
    case "disabled":
      return `Boîte n° ${row.id} désactivée : elle n'est pas synchronisée. Activez-la d'abord (bouton « Activer », ou ${fix}).`;
    case "reconnect-needed": {
      const delegate = delegateOf(row);
      const access = delegate ? `${provider} n'accepte plus l'accès à la boîte partagée ${row.emailAddress} donné par le compte ${delegate}` : `${provider} a retiré l'autorisation d'accès`;
      return `Boîte n° ${row.id} à reconnecter : ${access}, une synchronisation échouerait. Reconnectez-la depuis un terminal : ${fix}.`;
    }
    case "syncing":
      return `Boîte n° ${row.id} déjà en cours de synchronisation par un autre passage : réessayez dans une minute.`;
    case "not-imap":
      return `Boîte n° ${row.id} : ce type de boîte (${row.integrationType}) n'est pas synchronisé par ce service.`;
    default:
      return `Boîte n° ${row.id} non synchronisée.`;
  }
}

/**
 * "mot de passe" or "OAuth2 Google", and the folders it syncs: once read, the Sent folders by their
 * names on the server, or that none was found (the replies written outside the app are not imported).
 */
export function loginAndFolders(m: MailboxHealth): string {
  const delegate = delegateOf(m);
  const login = m.authMethod === "oauth2"
    ? `OAuth2 ${PROVIDER_NAMES[m.oauthProvider ?? ""] ?? ""}`.trim() + (delegate ? `, boîte partagée ouverte avec le compte ${delegate}` : "")
    : "mot de passe";
  const sent = m.sentFoldersRead;
  if (m.syncedFolders.includes("sent") && sent !== null) {
    return sent.length > 0
      ? `${login} · dossiers INBOX et Envoyés (${sent.join(", ")})`
      : `${login} · dossier INBOX · aucun dossier Envoyés trouvé sur le serveur : les réponses écrites hors de l'application ne sont pas importées`;
  }
  return `${login} · dossiers ${m.syncedFolders.map((f) => FOLDER_NAMES[f] ?? f).join(" et ")}`;
}

const TRANSPORT_NAMES: Record<string, string> = { imap: "IMAP/SMTP", graph: "Microsoft Graph", "gmail-api": "Gmail API" };

/**
 * How new mail reaches the product for `m`, in French: its transport (and why, when it was chosen
 * automatically), whether its provider pushes new mail or it is polled, and what fixes a push that
 * does not work. Polling never stops: push only makes new mail arrive sooner.
 */
export function explainDelivery(m: MailboxHealth, ctx: RenderContext): SafeHtml {
  const transport = TRANSPORT_NAMES[m.mailTransport] ?? m.mailTransport;
  const chosen = m.mailTransportReason ? html` <small>(choisi automatiquement : ${m.mailTransportReason})</small>` : "";
  const polled = `relevée toutes les ${countOf(m.syncIntervalMinutes, "minute")}`;
  const isGmail = m.mailTransport === "gmail-api";
  const last = m.push.lastNotifiedAt ? html`<br><small>dernière notification le ${ctx.dates.date(m.push.lastNotifiedAt)}</small>` : "";
  const push = ((): SafeHtml => {
    switch (m.push.code) {
      case "active":
        return html`${badge("b-ok", "notifications actives")} jusqu'au ${ctx.dates.date(m.push.activeUntil)} : le nouveau courrier arrive en quelques secondes, renouvelées automatiquement (et ${polled} au cas où une notification se perd).${last}`;
      case "refused":
        return html`${badge("b-warn", "notifications refusées")} ${m.push.reason ?? "refusées par le fournisseur"} → ${polled}. Rien ne se perd ; pour des notifications, ${isGmail
          ? "vérifiez que GMAIL_PUBSUB_TOPIC est un sujet Pub/Sub du projet Google Cloud de l'application, sur lequel gmail-api-push@system.gserviceaccount.com peut publier"
          : "connectez la boîte avec le compte qui la possède (pas par une boîte partagée)"}. Nouvel essai automatique chaque jour.${last}`;
      case "expired":
        return html`${badge("b-warn", "notifications expirées")} l'abonnement n'a pas été renouvelé à temps : le prochain passage du cron le renouvelle ; en attendant, ${polled}. Vérifiez que le cron passe (section des tâches).${last}`;
      case "none":
        return isGmail
          ? html`${badge("b-off", "sans notification")} ${polled}. Pour recevoir le courrier en quelques secondes, définissez GMAIL_PUBSUB_TOPIC (le sujet Pub/Sub) et la souscription push vers ce service (GMAIL_PUSH_AUDIENCE, GMAIL_PUSH_SERVICE_ACCOUNT) : le prochain passage du cron surveille la boîte.`
          : html`${badge("b-off", "sans notification")} ${polled}. Pour recevoir le courrier en quelques secondes, définissez PUBLIC_BASE_URL (l'adresse HTTPS publique de ce service) : le prochain passage du cron s'abonne aux notifications.`;
      case "not-offered":
        return html`${polled} (IMAP n'envoie pas de notification).`;
    }
  })();
  return html`${transport}${chosen}<br>${push}`;
}

/** "au prochain passage", or "le 24/06/2026 14:35 UTC+2 (dans 30 min)". */
function nextTryWords(m: MailboxHealth, ctx: RenderContext): SafeHtml {
  const at = m.state.nextTryAt;
  return !at || at.getTime() <= ctx.now.getTime() ? html`au prochain passage` : html`le ${dateWithRelative(at, ctx)}`;
}

function badge(tone: string, text: string): SafeHtml {
  return html`<span class="badge ${tone}">${text}</span>`;
}

function joined(parts: SafeHtml[]): SafeHtml {
  return html`${parts.map((p, i) => html`${i > 0 ? " puis " : ""}${p}`)}`;
}
