// The app's four attachment kinds (`file_type`), by MIME type first and file extension second:
// senders often label everything application/octet-stream.

import type { ATTACHMENT_FILE_TYPES } from "../db/schema.js";

export type AttachmentFileType = (typeof ATTACHMENT_FILE_TYPES)[number];

const IMAGE_EXTENSIONS = new Set(["jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "heic", "heif", "svg"]);
const DOCUMENT_EXTENSIONS = new Set(["doc", "docx", "odt", "xls", "xlsx", "ods", "ppt", "pptx", "txt", "csv", "rtf"]);
const DOCUMENT_MIME_TYPES = new Set([
  "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint", "application/rtf",
  "text/rtf", "text/plain", "text/csv",
]);
/** Office Open XML and OpenDocument formats, by prefix. */
const DOCUMENT_MIME_PREFIXES = ["application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument."];

/** `image`, `pdf`, `document` or `other`. */
export function attachmentFileType(mimeType: string | null, fileName: string | null): AttachmentFileType {
  const mime = (mimeType ?? "").toLowerCase().split(";")[0]?.trim() ?? "";
  const extension = /\.([a-z0-9]{1,8})$/i.exec(fileName ?? "")?.[1]?.toLowerCase() ?? "";
  if (mime.startsWith("image/") || IMAGE_EXTENSIONS.has(extension)) return "image";
  if (mime === "application/pdf" || extension === "pdf") return "pdf";
  if (DOCUMENT_MIME_TYPES.has(mime) || DOCUMENT_MIME_PREFIXES.some((p) => mime.startsWith(p))) return "document";
  if (DOCUMENT_EXTENSIONS.has(extension)) return "document";
  return "other";
}
