/** keymount's JSON log lines (one per CSI call), read back from its log file to see what the kubelet asked. */
import { readFileSync } from 'node:fs';

export interface CallRecord {
  readonly method?: string;
  readonly volumeId?: string;
  readonly targetPath?: string;
  readonly code?: string;
  readonly error?: string;
}

export function callRecords(logFile: string): CallRecord[] {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as CallRecord];
      } catch {
        return [];
      }
    })
    .filter((record) => typeof record.method === 'string');
}

/** Calls of one method on one target path, in order. */
export function callsFor(logFile: string, method: string, target: string): CallRecord[] {
  return callRecords(logFile).filter((record) => record.method === method && record.targetPath === target);
}
