import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';
import { redact } from '../redaction.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level: LevelWithSilent;
  /** Human-friendly lines when stdout is a terminal; JSON lines otherwise. */
  readonly pretty: boolean;
  /** Where records go; stdout by default. Tests pass a capture stream. */
  readonly destination?: DestinationStream;
}

/**
 * The one logger of the process. Every record goes through redact(), so the
 * request's `secrets`, service-account tokens, keys and file contents cannot
 * reach a log line even if a caller passes them by mistake.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { component: 'keymount' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (record) => redact(record) as Record<string, unknown>,
      },
      // The error serializer must redact too: pino applies serializers before formatters.log.
      serializers: { err: (error: unknown) => redact(error) },
    },
    options.destination ?? (options.pretty ? prettyStream() : pino.destination(1)),
  );
}

/** A small human-readable stream for terminals (no extra dependency). */
function prettyStream(): DestinationStream {
  return {
    write(line: string): void {
      try {
        const record = JSON.parse(line) as Record<string, unknown>;
        const { level, time, msg, component: _component, pid: _pid, hostname: _hostname, ...rest } = record;
        const details = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
        process.stdout.write(`${String(time)} ${String(level).toUpperCase().padEnd(5)} ${String(msg)}${details}\n`);
      } catch {
        process.stdout.write(line);
      }
    },
  };
}
