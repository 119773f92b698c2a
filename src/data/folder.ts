// Image-folder data sets: torchvision's ImageFolder layout (<root>/<class>/**/<image>) and Kaggle's
// flat Dogs-vs-Cats layout (<root>/cat.0.jpg, <root>/dog.12.jpg), plus `prepare` to turn the second
// into the first.
import { copyFileSync, constants, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { Rng, mixSeed } from '../engine/rng.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif'];

export interface Sample {
  path: string;
  label: number;
}

export interface FolderData {
  root: string;
  classes: string[];
  samples: Sample[];
  /** Links not followed (out of their class folder, broken, or to something already counted), one line each. */
  skipped: string[];
}

// Dotfiles are skipped (unlike torchvision): macOS "._cat.1.jpg" and ".ipynb_checkpoints" are never data.
export function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return !name.startsWith('.') && IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Kaggle's class of a flat file named <class>.<n>.<ext>: the name before the first dot, in
 * lower case ("Dog.12.JPG" and "dog.3.jpg" -> "dog"); null for other names ("IMG_0001.jpg").
 */
export function flatClass(name: string): string | null {
  const m = /^([^.]+)\.\d+\.[^.]+$/.exec(name);
  return m ? m[1].toLowerCase() : null;
}

// stat, not lstat: symlinks are followed as torchvision does (os.walk(followlinks=True)).
function kind(path: string): 'dir' | 'file' | null {
  try {
    const st = statSync(path);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

function requireDir(path: string): void {
  const k = kind(path);
  if (k === null) throw new Error(`data folder not found: ${path}`);
  if (k !== 'dir') throw new Error(`not a folder: ${path}`);
}

const sorted = (names: string[]): string[] => names.sort(); // code-unit order, as Python's sorted() for ASCII names

function subdirs(dir: string): string[] {
  return sorted(readdirSync(dir).filter((n) => !n.startsWith('.') && kind(join(dir, n)) === 'dir'));
}

function imageFiles(dir: string): string[] {
  return sorted(readdirSync(dir).filter((n) => isImageName(n) && kind(join(dir, n)) === 'file'));
}

// torchvision's make_dataset: sorted(os.walk(class_dir)), then sorted file names in each
// folder. Unlike torchvision, a symbolic link is followed only where it stays inside the
// class folder (a link to '..' would label every other class's images as this one), and
// each file and folder counts once; links not followed are listed in `skipped`.
function walkImages(classDir: string, skipped: string[]): string[] {
  const top = realpathSync(classDir);
  const entries = (d: string) => sorted(readdirSync(d).filter((n) => !n.startsWith('.')));
  // first everything reachable without links, so that a link to it is the one left out
  const seen = new Set<string>([top]);
  const plain = (d: string): void => {
    for (const name of entries(d)) {
      const path = join(d, name);
      if (lstatSync(path).isSymbolicLink()) continue;
      seen.add(realpathSync(path));
      if (kind(path) === 'dir') plain(path);
    }
  };
  plain(classDir);
  const dirs: [string, string[]][] = [];
  const visit = (d: string): void => {
    const files: string[] = [], sub: string[] = [];
    for (const name of entries(d)) {
      const path = join(d, name);
      const k = kind(path);
      if (k === null || (k === 'file' && !isImageName(name))) continue;
      if (lstatSync(path).isSymbolicLink()) {
        const real = realpathSync(path);
        if (real !== top && !real.startsWith(top + sep)) {
          skipped.push(`${path} links outside its class folder (to ${relative(classDir, real) || real}): not followed`);
          continue;
        }
        if (seen.has(real)) {
          skipped.push(`${path} links to ${relative(classDir, real) || '.'}, already counted: not followed`);
          continue;
        }
        seen.add(real);
      }
      (k === 'dir' ? sub : files).push(name);
    }
    dirs.push([d, files.map((f) => join(d, f))]);
    for (const s of sub) visit(join(d, s));
  };
  visit(classDir);
  return dirs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).flatMap(([, f]) => f);
}

function checkClasses(root: string, classes: string[], samples: Sample[], skipped: string[] = []): FolderData {
  if (samples.length === 0) {
    throw new Error(`no images found in ${root} (expected <class>/<image> folders or flat <class>.<n>.jpg files)`);
  }
  if (classes.length < 2) throw new Error(`only one class ('${classes[0]}') found in ${root}; need at least two`);
  return { root, classes, samples, skipped };
}

/** torchvision.datasets.ImageFolder: classes are the sorted sub-folder names. */
export function imageFolder(root: string): FolderData {
  requireDir(root);
  const classes = subdirs(root);
  const samples: Sample[] = [], skipped: string[] = [];
  classes.forEach((c, label) => {
    const files = walkImages(join(root, c), skipped);
    if (files.length === 0 && classes.length > 1) throw new Error(`class folder ${join(root, c)} has no images`);
    for (const path of files) samples.push({ path, label });
  });
  return checkClasses(root, classes, samples, skipped);
}

/** Kaggle's flat layout: classes are the sorted file-name prefixes; samples grouped by class like ImageFolder. */
export function flatFolder(root: string): FolderData {
  requireDir(root);
  const byClass = new Map<string, string[]>();
  const skipped: string[] = [];
  for (const name of imageFiles(root)) {
    const c = flatClass(name);
    if (c) byClass.set(c, [...(byClass.get(c) ?? []), join(root, name)]);
    else skipped.push(`${join(root, name)}: not named <class>.<n>.<ext>: left out`);
  }
  const classes = sorted([...byClass.keys()]);
  const samples = classes.flatMap((c, label) => byClass.get(c)!.map((path) => ({ path, label })));
  return checkClasses(root, classes, samples, skipped);
}

/** Class folders when there are any (files beside them are ignored, as ImageFolder does), else the flat layout. */
export function loadFolder(root: string): FolderData {
  requireDir(root);
  return subdirs(root).length > 0 ? imageFolder(root) : flatFolder(root);
}

export function checkSameClasses(train: readonly string[], val: readonly string[], names: [string, string]): void {
  if (train.length !== val.length || train.some((c, i) => c !== val[i])) {
    throw new Error(`class mismatch: ${names[0]} has [${train.join(', ')}] but ${names[1]} has [${val.join(', ')}]`);
  }
}

/** <dataDir>/train and <dataDir>/val (optional) when there is a train folder, else dataDir itself for training. */
export function findSplit(dataDir: string): { train: string; val: string | null } {
  requireDir(dataDir);
  const train = join(dataDir, 'train');
  if (kind(train) !== 'dir') return { train: dataDir, val: null };
  const val = join(dataDir, 'val');
  return { train, val: kind(val) === 'dir' ? val : null };
}

export function loadSplit(dataDir: string): { train: FolderData; val: FolderData | null } {
  const split = findSplit(dataDir);
  const train = loadFolder(split.train);
  const val = split.val === null ? null : loadFolder(split.val);
  if (val) checkSameClasses(train.classes, val.classes, [train.root, val.root]);
  return { train, val };
}

function sameContent(a: string, b: string): boolean {
  return statSync(a).size === statSync(b).size && readFileSync(a).equals(readFileSync(b));
}

export interface PrepareResult {
  /** Per folder that received images (a class folder's parent), how many of each class it holds now. */
  sorted: Record<string, Record<string, number>>;
  /** Image files not named <class>.<n>.<ext>, left where they are. */
  left: string[];
}

export interface PrepareOptions {
  move?: boolean;
  /** Split `dir`'s own flat images into dir/train and dir/val, this fraction of each class to val. */
  valFraction?: number;
  seed?: number;
}

/**
 * The seed's move_images_to_folders: sorts the flat image files of `dir`, `dir/train` and
 * `dir/val` into <folder>/<class>/ (copying unless `move`); with `valFraction`, `dir`'s own
 * files go to dir/train/<class> and dir/val/<class> instead, a seeded shuffle of each class
 * deciding which (stratified). Idempotent.
 */
export function prepareFlat(dir: string, opts: PrepareOptions = {}): PrepareResult {
  requireDir(dir);
  const result: PrepareResult = { sorted: {}, left: [] };
  const realDir = realpathSync(dir);
  const place = (src: string, folder: string, cls: string): void => {
    const classDir = join(folder, cls);
    mkdirSync(classDir, { recursive: true });
    if (!realpathSync(classDir).startsWith(realDir + sep)) throw new Error(`${classDir} leads outside ${dir}`);
    const dest = join(classDir, basename(src));
    if (existsSync(dest)) {
      if (!sameContent(src, dest)) throw new Error(`cannot sort ${src}: ${dest} exists with different content`);
      if (opts.move) rmSync(src);
    } else if (opts.move) {
      renameSync(src, dest);
    } else {
      copyFileSync(src, dest, constants.COPYFILE_EXCL);
    }
    const counts = (result.sorted[folder] ??= {});
    counts[cls] = (counts[cls] ?? 0) + 1;
  };
  const flat = (folder: string): Map<string, string[]> => {
    const byClass = new Map<string, string[]>();
    for (const name of imageFiles(folder)) {
      const cls = flatClass(name);
      if (cls) byClass.set(cls, [...(byClass.get(cls) ?? []), join(folder, name)]);
      else result.left.push(join(folder, name));
    }
    return byClass;
  };
  const f = opts.valFraction;
  if (f !== undefined) {
    if (!(f > 0 && f < 1)) throw new Error(`--val-fraction must be between 0 and 1, got ${f}`);
    const [train, val] = [join(dir, 'train'), join(dir, 'val')];
    const byClass = flat(dir);
    for (const cls of sorted([...byClass.keys()])) {
      const files = byClass.get(cls)!;
      const order = new Rng(mixSeed(opts.seed ?? 0, ...[...cls].map((ch) => ch.charCodeAt(0)))).permutation(files.length);
      const nVal = files.length > 1 ? Math.min(files.length - 1, Math.max(1, Math.round(f * files.length))) : 0;
      order.forEach((k, i) => place(files[k], i < nVal ? val : train, cls));
    }
  }
  for (const folder of f !== undefined ? [join(dir, 'train'), join(dir, 'val')] : [dir, join(dir, 'train'), join(dir, 'val')]) {
    if (kind(folder) !== 'dir') continue;
    for (const [cls, files] of flat(folder)) for (const src of files) place(src, folder, cls);
  }
  return result;
}
