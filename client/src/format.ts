/** Time and size formatting for the dashboard. */

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** "12s", "5m", "3h", "2d" since `iso` (or until, for a future instant: "in 5m"). */
export function age(iso: string | null, now = Date.now()): string {
  if (!iso) return '–';
  const ms = now - Date.parse(iso);
  const future = ms < 0;
  const s = Math.abs(ms) / 1000;
  const text = s < 60 ? `${Math.floor(s)}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** Local date and time with seconds, e.g. 2024-05-01 14:03:07. */
export function clock(iso: string | null): string {
  if (!iso) return '–';
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** HH:MM:SS for an instant of today, the full clock() otherwise. */
export function shortClock(iso: string | null): string {
  if (!iso) return '–';
  const full = clock(iso);
  return full.slice(0, 10) === clock(new Date().toISOString()).slice(0, 10) ? full.slice(11) : full;
}

/** m:ss (or h:mm:ss) of a duration in ms, rounded up so "0:00" means over. */
export function countdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A step's length: "0.4s", "12s", "2m 05s", "1h 02m". */
export function duration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${(Math.floor(s * 10) / 10).toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const p = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${p(Math.floor(s % 60))}s`;
  return `${Math.floor(s / 3600)}h ${p(Math.floor((s % 3600) / 60))}m`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
