// The OData envelopes Microsoft Graph wraps its entities in, which @microsoft/microsoft-graph-types
// does not describe (it types the entities only): a collection page with its next/delta links, an
// item removed since the last delta round, and the error body. Shared by the client and the local
// Graph server of the tests, so both read and write the same shape.

import type { PublicError } from "@microsoft/microsoft-graph-types";

/**
 * One page of a collection (OData JSON Format 4.01 §12, "Collection of Entities"). A delta round
 * ends with the page that carries `@odata.deltaLink`; every page before it carries `@odata.nextLink`.
 */
export interface ODataCollection<T> {
  "@odata.context"?: string;
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
  value: T[];
}

/**
 * An item a delta round reports as gone ("Use delta query", Resource representation): its id and
 * why, `deleted` (hard-deleted) or `changed` (soft-deleted, or moved out of the tracked folder).
 */
export interface ODataRemoved {
  "@odata.type"?: string;
  id: string;
  "@removed": { reason: "changed" | "deleted" | (string & {}) };
}

/**
 * Graph's error body ("Microsoft Graph error responses"): one `error` object whose `innerError` may
 * nest more specific codes (apps are told to walk them all), and carries the request's id and date.
 */
export interface ODataErrorBody {
  error: Omit<PublicError, "innerError"> & { innerError?: ODataInnerError | null };
}

export interface ODataInnerError {
  code?: string | null;
  message?: string | null;
  date?: string;
  "request-id"?: string;
  "client-request-id"?: string;
  innerError?: ODataInnerError | null;
}
