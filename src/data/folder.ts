// Image-folder data sets: torchvision's ImageFolder layout (<root>/<class>/**/<image>) and Kaggle's
// flat Dogs-vs-Cats layout (<root>/cat.0.jpg, <root>/dog.12.jpg), plus `prepare` to turn the second
// into the first.
import { copyFileSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif'];

export interface Sample {
  path: string;
  label: number;
}

export interface FolderData {
  root: string;
  classes: string[];
  samples: Sample[];
}

// Dotfiles are skipped (unlike torchvision): macOS "._cat.1.jpg" and ".ipynb_checkpoints" are never data.
export function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return !name.startsWith('.') && IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** Kaggle's class of a flat file: the name before the first dot ("dog.12.jpg" -> "dog"). */
export function flatClass(name: string): string {
  return name.slice(0, name.indexOf('.'));
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

// torchvision's make_dataset: sorted(os.walk(class_dir)), then sorted file names in each folder.
function walkImages(classDir: string): string[] {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const visit = (d: string): void => {
    const real = realpathSync(d);
    if (seen.has(real)) return; // a symlink loop
    seen.add(real);
    dirs.push(d);
    for (const s of subdirs(d)) visit(join(d, s));
  };
  visit(classDir);
  return sorted(dirs).flatMap((d) => imageFiles(d).map((f) => join(d, f)));
}

function checkClasses(root: string, classes: string[], samples: Sample[]): FolderData {
  if (samples.length === 0) {
    throw new Error(`no images found in ${root} (expected <class>/<image> folders or flat <class>.<n>.jpg files)`);
  }
  if (classes.length < 2) throw new Error(`only one class ('${classes[0]}') found in ${root}; need at least two`);
  return { root, classes, samples };
}

/** torchvision.datasets.ImageFolder: classes are the sorted sub-folder names. */
export function imageFolder(root: string): FolderData {
  requireDir(root);
  const classes = subdirs(root);
  const samples: Sample[] = [];
  classes.forEach((c, label) => {
    const files = walkImages(join(root, c));
    if (files.length === 0 && classes.length > 1) throw new Error(`class folder ${join(root, c)} has no images`);
    for (const path of files) samples.push({ path, label });
  });
  return checkClasses(root, classes, samples);
}

/** Kaggle's flat layout: classes are the sorted file-name prefixes; samples grouped by class like ImageFolder. */
export function flatFolder(root: string): FolderData {
  requireDir(root);
  const byClass = new Map<string, string[]>();
  for (const name of imageFiles(root)) {
    const c = flatClass(name);
    if (c) byClass.set(c, [...(byClass.get(c) ?? []), join(root, name)]);
  }
  const classes = sorted([...byClass.keys()]);
  const samples = classes.flatMap((c, label) => byClass.get(c)!.map((path) => ({ path, label })));
  return checkClasses(root, classes, samples);
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

/**
 * The seed's move_images_to_folders: sorts the flat image files of `dir`, `dir/train` and `dir/val` into
 * <folder>/<class>/ (copying unless `move`). Idempotent. Returns, per folder that had flat images, how
 * many files of each class it placed (or found already in place).
 */
export function prepareFlat(dir: string, opts: { move?: boolean } = {}): Record<string, Record<string, number>> {
  requireDir(dir);
  const result: Record<string, Record<string, number>> = {};
  for (const folder of [dir, join(dir, 'train'), join(dir, 'val')]) {
    if (kind(folder) !== 'dir') continue;
    const counts: Record<string, number> = {};
    const realFolder = realpathSync(folder);
    for (const name of imageFiles(folder)) {
      const cls = flatClass(name);
      if (!cls) continue;
      const classDir = join(folder, cls);
      mkdirSync(classDir, { recursive: true });
      if (!realpathSync(classDir).startsWith(realFolder + sep)) throw new Error(`${classDir} leads outside ${folder}`);
      const src = join(folder, name);
      const dest = join(classDir, name);
      if (existsSync(dest)) {
        if (!sameContent(src, dest)) throw new Error(`cannot sort ${src}: ${dest} exists with different content`);
        if (opts.move) rmSync(src);
      } else if (opts.move) {
        renameSync(src, dest);
      } else {
        copyFileSync(src, dest, constants.COPYFILE_EXCL);
      }
      counts[cls] = (counts[cls] ?? 0) + 1;
    }
    if (Object.keys(counts).length > 0) result[folder] = counts;
  }
  return result;
}
