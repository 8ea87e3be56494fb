import cronstrue from 'cronstrue';

/** "Every 2 minutes" for a cron line; the cron itself when it cannot be read. */
export function scheduleInWords(cron: string): string {
  try {
    return cronstrue.toString(cron, { use24HourTimeFormat: true, verbose: false });
  } catch {
    return cron;
  }
}

export function dateTime(iso: string | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** "in 1 min", "3 s ago": relative to now, for times near it. */
export function relative(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  const text =
    abs < 60
      ? `${abs} s`
      : abs < 3600
        ? `${Math.round(abs / 60)} min`
        : abs < 86400
          ? `${Math.round(abs / 3600)} h`
          : `${Math.round(abs / 86400)} d`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

export function duration(startIso?: string, endIso?: string, now = Date.now()): string {
  if (!startIso) return '';
  const ms = (endIso ? new Date(endIso).getTime() : now) - new Date(startIso).getTime();
  if (ms < 1000) return `${Math.max(0, ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function percent(value: number | undefined, digits = 1): string {
  return value === undefined ? '—' : `${(value * 100).toFixed(digits)} %`;
}

const FIGURES: [key: string, words: string][] = [
  ['rowsRead', 'rows read'],
  ['rowsIn', 'rows in'],
  ['rowsOut', 'rows kept'],
  ['rowsTrain', 'train rows'],
  ['rowsTest', 'test rows'],
  ['rowsSkipped', 'rows skipped'],
  ['rowsWritten', 'rows written'],
  ['modelVersion', 'model'],
];

/** A stage's figures in a line: "150 rows read · 4 columns". */
export function stageFigures(summary: Record<string, unknown> | undefined): string {
  if (!summary) return '';
  const parts = FIGURES.filter(([key]) => summary[key] !== undefined).map(([key, words]) =>
    key === 'modelVersion'
      ? `${words} ${String(summary[key])}`
      : `${String(summary[key])} ${words}`,
  );
  if (typeof summary.promoted === 'boolean')
    parts.push(summary.promoted ? 'promoted' : 'not promoted');
  return parts.join(' · ');
}
