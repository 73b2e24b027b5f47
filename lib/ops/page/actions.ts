// What the operator's buttons do. Each action goes through the same lib/ function as its CLI
// command and comes back as a sentence (the "flash" shown after the redirect). An action refused by
// its rule (no such mailbox, not uncertain any more…) is an error sentence, not an error page.

import type { Config } from "../../config.js";
import type { Db } from "../../db/client.js";
import { ERROR_KINDS, JobError } from "../../errors.js";
import { resolveUncertainAsNotSent, resolveUncertainAsSent } from "../../followups/resolve-uncertain.js";
import { reimportQuarantined } from "../../inbox/reimport-quarantined.js";
import { resetFolder } from "../../inbox/reset-folder.js";
import { setIntegrationActive } from "../../inbox/set-integration-active.js";
import { syncAllJob } from "../../inbox/sync-all.js";
import type { JobEntry } from "../../jobs/job-entry.js";
import { runJob } from "../../jobs/run-job.js";
import type { Logger } from "../../log.js";
import { attachmentStorageFor } from "../../storage/attachment-storage.js";
import { fixCommandsFor, readMailboxState } from "../mailbox-state.js";
import { whyNotSynced } from "./explain-mailbox.js";
import { countOf as frenchCount } from "./render-format.js";
import type { Flash } from "./session.js";

export interface ActionContext {
  db: Db;
  config: Config;
  log: Logger;
  now: () => Date;
  /** The job registry (lib/app/job-registry.ts): the jobs whose simulation a button runs. */
  jobs: readonly JobEntry[];
}

type Action = (form: FormData, ctx: ActionContext) => Promise<Flash>;

/** The actions by the value of the form's `action` field. */
export const OPERATOR_ACTIONS: Record<string, Action> = {
  synchroniser: async (form, ctx) => {
    const id = idField(form, "integration");
    const before = await readMailboxState(ctx.db, id, ctx.now());
    if (!before) return error(`Boîte n° ${id} introuvable : elle a peut-être été supprimée.`);
    if (!before.state.isSyncableNow) return error(whyNotSynced(before.row, before.state));
    const summary = await runJob(syncAllJob, { integrationId: id }, { config: ctx.config, log: ctx.log, trigger: "operator", now: ctx.now, db: ctx.db });
    const failure = summary.failures[0];
    if (failure) {
      const after = await readMailboxState(ctx.db, id, ctx.now());
      const wording = after?.state.kind ? ERROR_KINDS[after.state.kind].operatorWording : "la synchronisation a échoué";
      const fix = after ? fixCommandsFor(after.row, after.state) : [];
      return error(`Échec de la synchronisation de la boîte n° ${id} : ${wording}.${fix.length ? ` À faire : ${fix.join(", puis ")}.` : ""} Détail : ${failure.reason}`);
    }
    if (summary.integrations.attempted === 0) {
      const after = await readMailboxState(ctx.db, id, ctx.now());
      return error(after && !after.state.isSyncableNow ? whyNotSynced(after.row, after.state) : `Boîte n° ${id} non synchronisée : le passage n'a pas eu le temps de la prendre. Réessayez.`);
    }
    const setAside = summary.messagesSetAside ? `, ${summary.messagesSetAside} mis de côté` : "";
    const more = summary.remaining ? " Il en reste : le prochain passage continue." : "";
    return ok(`Boîte n° ${id} synchronisée : ${frenchCount(summary.messagesImported, "message importé", "messages importés")}${setAside}.${more}`);
  },
  desactiver: async (form, ctx) => {
    const id = idField(form, "integration");
    await setIntegrationActive(ctx.db, id, false, ctx.now());
    return ok(`Boîte n° ${id} désactivée : elle n'est plus synchronisée.`);
  },
  activer: async (form, ctx) => {
    const id = idField(form, "integration");
    await setIntegrationActive(ctx.db, id, true, ctx.now());
    return ok(`Boîte n° ${id} activée : elle sera synchronisée au prochain passage.`);
  },
  "reinitialiser-dossier": async (form, ctx) => {
    const id = idField(form, "integration");
    const folder = textField(form, "dossier");
    const reset = await resetFolder(ctx.db, id, folder, ctx.now());
    return ok(`Dossier ${folder} de la boîte n° ${id} réinitialisé (${frenchCount(reset.previousChanges, "renumérotation oubliée", "renumérotations oubliées")}) : le prochain passage réimporte la période récente, sans doublon.`);
  },
  reimporter: async (form, ctx) => {
    const id = idField(form, "message");
    const outcome = await reimportQuarantined(ctx.db, id, {
      storage: attachmentStorageFor(ctx.config, ctx.db), maxAttachmentBytes: ctx.config.maxAttachmentBytes, now: ctx.now(), log: ctx.log,
    });
    if (outcome.status === "failed") return error(`Message mis de côté n° ${id} toujours impossible à importer (essai ${outcome.attempts}). Détail : ${outcome.reason}`);
    return ok(outcome.store.status === "stored"
      ? `Message mis de côté n° ${id} importé (message n° ${outcome.store.messageId}).`
      : `Message mis de côté n° ${id} déjà présent : retiré de la liste.`);
  },
  "envoi-fait": async (form, ctx) => {
    const id = idField(form, "tentative");
    const { historyId } = await resolveUncertainAsSent(ctx.db, id, { config: ctx.config, log: ctx.log });
    return ok(`Envoi n° ${id} enregistré comme parti (historique n° ${historyId}).`);
  },
  "envoi-non-fait": async (form, ctx) => {
    const id = idField(form, "tentative");
    const attempt = await resolveUncertainAsNotSent(ctx.db, id);
    return ok(`Envoi n° ${id} effacé : le prochain passage envoie l'étape ${attempt.step} de la relance n° ${attempt.followupId}.`);
  },
  simuler: async (form, ctx) => {
    const name = textField(form, "tache");
    const entry = ctx.jobs.find((j) => j.name === name && j.supportsDryRun);
    if (!entry?.dryRun) return error(`Pas de simulation pour la tâche ${name.slice(0, 40)}`);
    const summary = await runJob(entry.job, entry.dryRun.params, { config: ctx.config, log: ctx.log, trigger: "operator", now: ctx.now, db: ctx.db });
    return ok(entry.dryRun.describe(summary));
  },
};

/** Runs `action` and turns a refusal of its rule into an error sentence. */
export async function runOperatorAction(name: string, form: FormData, ctx: ActionContext): Promise<Flash> {
  const action = OPERATOR_ACTIONS[name];
  if (!action) return error(`Action inconnue : ${name.slice(0, 40)}`);
  try {
    return await action(form, ctx);
  } catch (err) {
    if (err instanceof JobError && err.kind === "bad-input") return error(`Refusé, rien n'a été fait (${ERROR_KINDS["bad-input"].operatorWording.toLowerCase()}). Détail : ${err.message}`);
    throw err;
  }
}

function idField(form: FormData, name: string): number {
  const value = form.get(name);
  if (typeof value !== "string" || !/^\d{1,9}$/.test(value) || Number(value) < 1) throw new JobError("bad-input", `${name}: a whole number is expected`);
  return Number(value);
}

function textField(form: FormData, name: string): string {
  const value = form.get(name);
  if (typeof value !== "string" || value.length === 0 || value.length > 200) throw new JobError("bad-input", `${name}: missing or too long`);
  return value;
}

const ok = (text: string): Flash => ({ tone: "ok", text });
const error = (text: string): Flash => ({ tone: "error", text });
