import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkSameClasses, findSplit, flatFolder, imageFolder, loadFolder, loadSplit, prepareFlat,
} from '../../src/data/folder.js';
import { tempDir, touch } from './fixtures.js';

const tmp = tempDir();
afterAll(tmp.cleanup);
let n = 0;
const fresh = (): string => {
  const d = join(tmp.dir, `case${n++}`);
  mkdirSync(d);
  return d;
};
const rel = (root: string, paths: { path: string; label: number }[]) =>
  paths.map((s) => [s.path.slice(root.length + 1), s.label]);

describe('ImageFolder layout', () => {
  it('sorts classes and files like torchvision, recursing into sub-folders', () => {
    const root = fresh();
    for (const f of ['dog/b.jpg', 'dog/a.PNG', 'cat/z.jpg', 'cat/sub/y.jpeg', 'cat/notes.txt', 'cat/._z.jpg', 'Bird/x.webp', 'Bird/y.GIF']) {
      touch(join(root, f));
    }
    touch(join(root, 'stray.jpg')); // files beside class folders are ignored
    const data = imageFolder(root);
    expect(data.classes).toEqual(['Bird', 'cat', 'dog']);
    expect(rel(root, data.samples)).toEqual([
      ['Bird/x.webp', 0], ['Bird/y.GIF', 0], ['cat/z.jpg', 1], ['cat/sub/y.jpeg', 1], ['dog/a.PNG', 2], ['dog/b.jpg', 2],
    ]);
    expect(loadFolder(root)).toEqual(data);
  });

  it("reads Kaggle's flat layout: class = name before the first dot", () => {
    const root = fresh();
    for (const f of ['dog.1.jpg', 'cat.10.jpg', 'cat.2.jpg', 'readme.txt', 'sampleSubmission.csv']) touch(join(root, f));
    const data = flatFolder(root);
    expect(data.classes).toEqual(['cat', 'dog']);
    expect(rel(root, data.samples)).toEqual([['cat.10.jpg', 0], ['cat.2.jpg', 0], ['dog.1.jpg', 1]]);
    expect(loadFolder(root)).toEqual(data);
  });

  it('finds train/val splits', () => {
    const root = fresh();
    expect(() => findSplit(join(root, 'nope'))).toThrow(/not found.*nope/);
    for (const f of ['cat.1.jpg', 'dog.1.jpg']) touch(join(root, f));
    expect(findSplit(root)).toEqual({ train: root, val: null });
    for (const f of ['train/cat/1.jpg', 'train/dog/1.jpg']) touch(join(root, f));
    expect(findSplit(root)).toEqual({ train: join(root, 'train'), val: null });
    for (const f of ['val/cat.7.jpg', 'val/dog.8.jpg']) touch(join(root, f));
    const split = loadSplit(root);
    expect(split.train.classes).toEqual(['cat', 'dog']);
    expect(split.val?.samples.map((s) => s.label)).toEqual([0, 1]);
  });
});

describe('errors', () => {
  it('names the folder', () => {
    const root = fresh();
    expect(() => loadFolder(join(root, 'missing'))).toThrow(`data folder not found: ${join(root, 'missing')}`);
    touch(join(root, 'file.jpg'));
    expect(() => loadFolder(join(root, 'file.jpg'))).toThrow(/not a folder/);
    const empty = join(root, 'empty');
    touch(join(empty, 'readme.txt'));
    expect(() => loadFolder(empty)).toThrow(new RegExp(`no images found in ${empty}`));
    const one = join(root, 'one');
    touch(join(one, 'cat.1.jpg'));
    touch(join(one, 'cat.2.jpg'));
    expect(() => loadFolder(one)).toThrow(`only one class ('cat') found in ${one}; need at least two`);
    touch(join(root, 'oneclass/cat/1.jpg'));
    expect(() => loadFolder(join(root, 'oneclass'))).toThrow(/only one class \('cat'\)/);
    touch(join(root, 'emptyclass/cat/1.jpg'));
    mkdirSync(join(root, 'emptyclass/dog'));
    expect(() => loadFolder(join(root, 'emptyclass'))).toThrow(/emptyclass\/dog has no images/);
  });

  it('rejects train/val class mismatches', () => {
    expect(() => checkSameClasses(['cat', 'dog'], ['cat', 'dog'], ['a', 'b'])).not.toThrow();
    expect(() => checkSameClasses(['cat', 'dog'], ['cat', 'fox'], ['data/train', 'data/val'])).toThrow(
      'class mismatch: data/train has [cat, dog] but data/val has [cat, fox]',
    );
    const root = fresh();
    for (const f of ['train/cat.1.jpg', 'train/dog.1.jpg', 'val/cat.1.jpg', 'val/dog.1.jpg', 'val/fox.1.jpg']) touch(join(root, f));
    expect(() => loadSplit(root)).toThrow(/class mismatch/);
  });
});

describe('prepareFlat', () => {
  const layout = (): { root: string; data: string; outside: string } => {
    const root = fresh();
    const data = join(root, 'data');
    touch(join(data, 'train/cat.0.jpg'), 'c0');
    touch(join(data, 'train/cat.1.jpg'), 'c1');
    touch(join(data, 'train/dog.0.jpg'), 'd0');
    touch(join(data, 'train/readme.txt'), 'r');
    touch(join(data, 'val/cat.5.jpg'), 'c5');
    touch(join(data, 'val/dog.5.jpg'), 'd5');
    touch(join(data, 'test1/1.jpg'), 't1');
    const outside = touch(join(root, 'cat.9.jpg'), 'outside');
    return { root, data, outside };
  };
  const snapshot = (path: string) => [readFileSync(path, 'utf8'), statSync(path).mtimeMs];

  it('copies into class folders, idempotently', () => {
    const { root, data, outside } = layout();
    const before = snapshot(outside);
    const expected = { [join(data, 'train')]: { cat: 2, dog: 1 }, [join(data, 'val')]: { cat: 1, dog: 1 } };
    expect(prepareFlat(data).sorted).toEqual(expected);
    expect(readFileSync(join(data, 'train/cat/cat.1.jpg'), 'utf8')).toBe('c1');
    expect(existsSync(join(data, 'train/cat.1.jpg'))).toBe(true);
    expect(prepareFlat(data).sorted).toEqual(expected); // the second run finds everything in place
    expect(readdirSync(join(data, 'test1'))).toEqual(['1.jpg']);
    expect(readdirSync(root).sort()).toEqual(['cat.9.jpg', 'data']);
    expect(snapshot(outside)).toEqual(before);
    const split = loadSplit(data); // class folders win over the flat copies beside them
    expect(split.train.samples.map((s) => s.path.slice(data.length + 1))).toEqual(['train/cat/cat.0.jpg', 'train/cat/cat.1.jpg', 'train/dog/dog.0.jpg']);
  });

  it('moves with move: true, idempotently', () => {
    const { root, data, outside } = layout();
    const before = snapshot(outside);
    expect(prepareFlat(data, { move: true }).sorted).toEqual({
      [join(data, 'train')]: { cat: 2, dog: 1 },
      [join(data, 'val')]: { cat: 1, dog: 1 },
    });
    expect(readdirSync(join(data, 'train')).sort()).toEqual(['cat', 'dog', 'readme.txt']);
    expect(readdirSync(join(data, 'val/dog'))).toEqual(['dog.5.jpg']);
    expect(prepareFlat(data, { move: true }).sorted).toEqual({});
    expect(readdirSync(root).sort()).toEqual(['cat.9.jpg', 'data']);
    expect(readdirSync(join(data, 'test1'))).toEqual(['1.jpg']);
    expect(snapshot(outside)).toEqual(before);
    expect(loadSplit(data).val?.classes).toEqual(['cat', 'dog']);
  });

  it('sorts a flat folder itself, and refuses to overwrite a different file', () => {
    const root = fresh();
    touch(join(root, 'cat.0.jpg'), 'a');
    touch(join(root, 'dog.0.jpg'), 'b');
    touch(join(root, 'dog/dog.0.jpg'), 'other');
    expect(() => prepareFlat(root)).toThrow(/dog\.0\.jpg exists with different content/);
    expect(() => prepareFlat(join(root, 'missing'))).toThrow(/not found/);
  });

  it('compares class prefixes case-insensitively and leaves files without one, listing them', () => {
    const root = fresh();
    for (const f of ['dog.1.jpg', 'Dog.2.JPG', 'CAT.3.png', 'cat.4.jpg', 'IMG_0001.jpg', 'holiday.photo.jpg']) touch(join(root, f), f);
    const r = prepareFlat(root);
    expect(r.sorted).toEqual({ [root]: { cat: 2, dog: 2 } });
    expect(r.left.map((p) => p.slice(root.length + 1))).toEqual(['IMG_0001.jpg', 'holiday.photo.jpg']);
    expect(readdirSync(root).sort()).toEqual(['CAT.3.png', 'Dog.2.JPG', 'IMG_0001.jpg', 'cat', 'cat.4.jpg', 'dog', 'dog.1.jpg', 'holiday.photo.jpg']);
    expect(readdirSync(join(root, 'dog')).sort()).toEqual(['Dog.2.JPG', 'dog.1.jpg']);
    const flat = flatFolder(root); // the flat layout read directly agrees, listing what it left out
    expect(flat.classes).toEqual(['cat', 'dog']);
    expect(flat.skipped).toEqual([`${join(root, 'IMG_0001.jpg')}: not named <class>.<n>.<ext>: left out`, `${join(root, 'holiday.photo.jpg')}: not named <class>.<n>.<ext>: left out`]);
  });

  it('--val-fraction splits a flat download into train/ and val/, stratified and seeded', () => {
    const make = () => {
      const root = fresh();
      for (let i = 0; i < 10; i++) touch(join(root, `cat.${i}.jpg`), `c${i}`);
      for (let i = 0; i < 20; i++) touch(join(root, `dog.${i}.jpg`), `d${i}`);
      return root;
    };
    const a = make(), b = make();
    const r = prepareFlat(a, { valFraction: 0.2, seed: 3 });
    expect(r.sorted).toEqual({ [join(a, 'train')]: { cat: 8, dog: 16 }, [join(a, 'val')]: { cat: 2, dog: 4 } });
    prepareFlat(b, { valFraction: 0.2, seed: 3 });
    const list = (root: string) => ['train/cat', 'train/dog', 'val/cat', 'val/dog'].map((d) => readdirSync(join(root, d)).sort());
    expect(list(b)).toEqual(list(a)); // the same seed, the same split
    const split = loadSplit(a);
    expect(split.train.samples).toHaveLength(24);
    expect(split.val?.samples).toHaveLength(6);
    expect(new Set([...list(a)[0], ...list(a)[2]]).size).toBe(10); // each file once
    expect(prepareFlat(a, { valFraction: 0.2, seed: 3 }).sorted).toEqual(r.sorted); // idempotent
    const c = make();
    prepareFlat(c, { valFraction: 0.2, seed: 4 });
    expect(list(c)).not.toEqual(list(a));
    expect(() => prepareFlat(c, { valFraction: 1 })).toThrow(/--val-fraction must be between 0 and 1/);
  });
});

describe('symbolic links in class folders', () => {
  it('follows none out of the class folder, counts each file once, and lists what it skipped', () => {
    const root = fresh();
    for (const f of ['cat/1.jpg', 'cat/2.jpg', 'dog/1.jpg', 'dog/sub/2.jpg']) touch(join(root, f));
    symlinkSync('..', join(root, 'dog/loop')); // would make every cat a dog as well
    symlinkSync(join(root, 'cat/1.jpg'), join(root, 'dog/stolen.jpg'));
    symlinkSync('sub', join(root, 'dog/again')); // inside, but counted already
    symlinkSync('sub/2.jpg', join(root, 'dog/3.jpg')); // inside: the same file again
    const data = imageFolder(root);
    expect(rel(root, data.samples)).toEqual([['cat/1.jpg', 0], ['cat/2.jpg', 0], ['dog/1.jpg', 1], ['dog/sub/2.jpg', 1]]);
    expect(data.skipped).toEqual([
      `${join(root, 'dog/3.jpg')} links to sub/2.jpg, already counted: not followed`,
      `${join(root, 'dog/again')} links to sub, already counted: not followed`,
      `${join(root, 'dog/loop')} links outside its class folder (to ..): not followed`,
      `${join(root, 'dog/stolen.jpg')} links outside its class folder (to ../cat/1.jpg): not followed`,
    ]);
  });
});
