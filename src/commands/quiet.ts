// Dawn prints notes from native code straight to file descriptor 2 while it sets up an
// adapter (two "maxDynamic...BuffersPerPipelineLayout artificially reduced" warnings on
// every run with lavapipe), where no JS hook sees them. `silenceNativeStderr` points fd 2
// at /dev/null for the duration of `f` and back afterwards (Linux and macOS: the original
// is reopened through /dev/fd, in append mode so that a redirected file is not truncated).
// Where that cannot be done, `f` runs with stderr as it is.

import { closeSync, openSync } from 'node:fs';

export async function silenceNativeStderr<T>(f: () => Promise<T>): Promise<T> {
  if (process.platform !== 'linux' && process.platform !== 'darwin') return f();
  let saved = -1;
  try {
    saved = openSync('/dev/fd/2', 'a');
  } catch {
    return f(); // a socket, or no stderr at all
  }
  // close(2) then open() takes the lowest free descriptor: 2
  const point = (path: string) => {
    closeSync(2);
    const fd = openSync(path, 'a');
    if (fd !== 2) closeSync(fd);
  };
  try {
    point('/dev/null');
  } catch {
    closeSync(saved);
    return f();
  }
  try {
    return await f();
  } finally {
    point(`/dev/fd/${saved}`);
    closeSync(saved);
  }
}
