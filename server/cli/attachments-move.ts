// `lokario-cron attachments move-to-bucket`: moves the files kept in the database (`stored_files`)
// into the configured bucket. The rules are in lib/storage/move-to-bucket.ts.

import { moveStoredFilesToBucket } from "../../lib/storage/move-to-bucket.js";
import { createS3Storage } from "../../lib/storage/s3-storage.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { CliError } from "./usage.js";

export async function moveToBucketCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { "batch-files": { type: "string" } });
  const batchFiles = values["batch-files"] === undefined ? undefined : parseId(values["batch-files"], "--batch-files", { max: 1000 });
  const settings = ctx.config.s3;
  if (!settings) {
    throw new CliError("no bucket is configured: set S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (and S3_ENDPOINT outside AWS)");
  }
  if (ctx.config.attachmentsStorage !== "s3") {
    ctx.io.stderr.write(`Note: ATTACHMENTS_STORAGE is ${ctx.config.attachmentsStorage}: new files still go there, not to the bucket.\n`);
  }
  const megabytes = (bytes: number) => (bytes / 1e6).toFixed(1);
  const summary = await ctx.withDatabase("attachments move-to-bucket", ({ db }) =>
    moveStoredFilesToBucket(db, createS3Storage(settings), {
      log: ctx.logger("cli:attachments-move"),
      batchFiles,
      onProgress: ({ moved, movedBytes }) => ctx.io.stderr.write(`moved ${moved} file(s), ${megabytes(movedBytes)} MB\n`),
    }),
  );
  const lines = [
    `Moved ${summary.moved} file(s) (${megabytes(summary.movedBytes)} MB) to s3://${settings.bucket}` +
      (summary.alreadyUploaded > 0 ? `, ${summary.alreadyUploaded} of them already uploaded by a run that was cut.` : "."),
    ...summary.failed.map((f) => `Not moved (kept in the database): ${f.key}: ${f.reason}`),
    ...(summary.stoppedBy ? [`Stopped: ${summary.stoppedBy}. Run the command again to carry on.`] : []),
    `${summary.remaining} file(s) left in the database.`,
  ];
  ctx.print(values.json, summary, lines.join("\n"));
  return summary.failed.length > 0 || summary.stoppedBy ? 1 : 0;
}
