/**
 * The last line a failed stage writes to stderr, plain text for people: a
 * pod's termination message is the tail of its log, which otherwise holds
 * JSON log lines and whatever libraries print, and the controller picks this
 * line out of it for the run's status.
 */
const PREFIX = 'mlpipeline: stage failed: ';

export function stageFailureLine(message: string): string {
  // One line, whatever the error said.
  return `${PREFIX}${message.replace(/\s*\n\s*/g, ' ')}\n`;
}

/** The failure a stage reported in a log tail, or undefined when it has none. */
export function stageFailureIn(logTail: string): string | undefined {
  const lines = logTail.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line.startsWith(PREFIX)) return line.slice(PREFIX.length);
  }
  return undefined;
}
