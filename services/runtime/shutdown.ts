/**
 * SIGTERM / SIGINT for a service's entry point: log "draining", run `stop`, exit 0 when it
 * finishes, exit 1 when it fails or outlasts `timeoutMs` (Kubernetes' grace period is set above
 * that bound by the constructs).
 */
export interface ShutdownLog {
  info(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export interface ShutdownOptions {
  readonly log: ShutdownLog;
  readonly timeoutMs: number;
  readonly stop: () => Promise<void>;
  /** Fields of the final "stopped" line. */
  readonly stoppedFields?: () => Record<string, unknown>;
  /** What an exit on the timeout leaves behind, for its log line. @default "shutdown timed out" */
  readonly timedOutMessage?: string;
}

export function exitOnSignals(options: ShutdownOptions): void {
  const { log, timeoutMs } = options;
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal, timeoutMs }, "draining");
    const timer = setTimeout(() => {
      log.error({ timeoutMs }, options.timedOutMessage ?? "shutdown timed out");
      process.exit(1);
    }, timeoutMs);
    options.stop().then(
      () => {
        clearTimeout(timer);
        log.info(options.stoppedFields?.() ?? {}, "stopped");
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: String(error) }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}
