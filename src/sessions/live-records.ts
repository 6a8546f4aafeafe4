/**
 * The records of a journal that still matter: sessions not yet closed and leases not yet ended.
 * Recovery acts on them; compaction keeps only them.
 */
import type { JournalRecord } from "./journal-format.js";

export type OpenRecord = Extract<JournalRecord, { t: "open" }>;
export type LeaseRecord = Extract<JournalRecord, { t: "lease" }>;

export class LiveRecords {
  readonly sessions = new Map<string, OpenRecord>();
  readonly leases = new Map<string, LeaseRecord>();

  constructor(records: Iterable<JournalRecord> = []) {
    for (const record of records) this.add(record);
  }

  add(record: JournalRecord): void {
    if (record.t === "open") this.sessions.set(record.session, record);
    else if (record.t === "close") this.sessions.delete(record.session);
    else if (record.t === "lease") this.leases.set(record.lease, record);
    else this.leases.delete(record.lease);
  }

  /** Sessions first, then leases (a lease may outlive its session while its revocation is retried). */
  records(): JournalRecord[] {
    return [...this.sessions.values(), ...this.leases.values()];
  }
}
