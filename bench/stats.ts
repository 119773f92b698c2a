// Median, min and max of timing samples (no engine imports: the TF.js peer uses it too).

export interface Stats {
  median: number; // seconds
  min: number;
  max: number;
}

export function stats(xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
}
