#!/usr/bin/env bash
# Packs what bench/gpu/run.sh needs on a Linux x86-64 machine with an NVIDIA GPU and no
# network into one compressed archive:
#   node/bin/node           the node binary running this script
#   app/                    dist/, dist-bench/, package.json, bench/peers/*.py,
#                           scripts/make_model_fixtures.py (the PyTorch models) with its safetensors_io.py, and the
#                           node_modules needed at run time: the package's dependencies
#                           (webgpu with its linux-x64 Dawn binary only, sharp with its
#                           linux-x64 libvips) and, when installed (in node_modules or in
#                           $TFJS_PATH/node_modules), TF.js's Node bundles
#   debs/libvulkan1_*.deb   the Vulkan loader (apt-get download), unpacked by run.sh
#
#   bash bench/gpu/pack.sh [OUT_DIR]     (default dist-bench/gpu-pack: ignored by git, so
#                                         the device tool takes it with carry: ["dist-bench/gpu-pack"])
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT_DIR=${1:-dist-bench/gpu-pack}
[ "$(uname -m)" = x86_64 ] || { echo "pack.sh: packs this machine's node; run it on x86-64 (this is $(uname -m))" >&2; exit 1; }

log() { echo "pack: $*" >&2; }

log "building dist/ and dist-bench/"
rm -rf dist-bench/bench dist-bench/src # no stale modules in the pack
npx tsc -p tsconfig.json
npx tsc -p tsconfig.bench.json

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/node/bin" "$STAGE/app/bench/peers" "$STAGE/app/scripts" "$STAGE/debs"

NODE=$(node -p process.execPath)
log "node $(node --version) from $NODE"
cp "$NODE" "$STAGE/node/bin/node"

cp -r dist dist-bench package.json "$STAGE/app/"
rm -rf "$STAGE/app/dist-bench/gpu-pack"
cp bench/peers/*.py "$STAGE/app/bench/peers/"
cp scripts/make_model_fixtures.py scripts/safetensors_io.py "$STAGE/app/scripts/"

# node_modules: walk the dependencies from package.json (and TF.js's, when installed),
# resolving each name as Node would, from the directory of the package that needs it.
# TF.js packages keep only package.json and their Node bundle (main), whose require()s
# give their dependencies; webgpu keeps only dist/linux-x64.
log "collecting node_modules"
node --input-type=module - "$STAGE/app" "${TFJS_PATH:-bench/.peers}" <<'EOF'
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
const [dest, tfjsPath] = process.argv.slice(2);
const root = process.cwd();
const pkgOf = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
function find(name, from, base) {
  for (let d = from; ; d = dirname(d)) {
    const p = join(d, 'node_modules', name);
    if (existsSync(join(p, 'package.json'))) return p;
    if (d === base || d === dirname(d)) return null;
  }
}
const isTf = (name) => name.startsWith('@tensorflow/');
const BUILTIN = new Set(['crypto', 'fs', 'util', 'string_decoder', 'path', 'os', 'stream', 'zlib', 'http', 'https', 'url', 'buffer', 'events']);
function depsOf(dir, name) {
  const p = pkgOf(dir);
  if (!isTf(name)) return [...Object.keys(p.dependencies ?? {}).map((d) => [d, false]), ...Object.keys(p.optionalDependencies ?? {}).map((d) => [d, true])];
  const src = readFileSync(join(dir, p.main), 'utf8');
  const req = [...src.matchAll(/require\(['"]([^'"./][^'"]*)['"]\)/g)].map((m) => m[1]);
  return [...new Set(req)].filter((r) => !BUILTIN.has(r) && r !== 'xor4096').map((d) => [d, false]); // xor4096: a guarded require inside seedrandom's code
}
// [name, from, base, optional]: base is the folder whose node_modules it comes from.
const todo = Object.keys(pkgOf(root).dependencies ?? {}).map((n) => [n, root, root, false]);
const tf = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'];
const tfBase = [root, ...(tfjsPath ? [resolve(tfjsPath)] : [])].find((b) => tf.every((n) => find(n, b, b)));
if (tfBase) todo.push(...tf.map((n) => [n, tfBase, tfBase, false]));
else console.error('pack: TF.js is not installed (here or in $TFJS_PATH): the GPU run will report it absent');
const seen = new Map();
while (todo.length) {
  const [name, from, base, optional] = todo.pop();
  const dir = find(name, from, base);
  if (!dir) {
    if (!optional) console.error(`pack: ${name} (needed by ${relative(root, from) || 'package.json'}) is not installed: skipped`);
    continue;
  }
  if (seen.has(dir)) continue;
  seen.set(dir, { name, base });
  for (const [d, opt] of depsOf(dir, name)) todo.push([d, dir, base, opt]);
}
for (const [dir, { name, base }] of seen) {
  const to = join(dest, relative(base, dir));
  mkdirSync(to, { recursive: true });
  if (isTf(name)) {
    const main = pkgOf(dir).main;
    cpSync(join(dir, 'package.json'), join(to, 'package.json'));
    mkdirSync(dirname(join(to, main)), { recursive: true });
    cpSync(join(dir, main), join(to, main));
  } else {
    cpSync(dir, to, {
      recursive: true,
      filter: (src) => {
        const r = relative(dir, src);
        if (r.split('/')[0] === 'node_modules') return false; // nested packages are walked on their own
        if (name === 'webgpu' && r.startsWith('dist/') && !r.startsWith('dist/linux-x64')) return false;
        return !r.endsWith('.map');
      },
    });
  }
}
console.error(`pack: ${seen.size} packages: ${[...seen.values()].map((v) => v.name).sort().join(' ')}`);
EOF

log "downloading libvulkan1 (amd64)"
(cd "$STAGE/debs" && apt-get download libvulkan1:amd64 >/dev/null 2>&1) || {
  log "apt-get download failed: apt-get update, then once more"
  (as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }; as_root apt-get update -qq) || true
  (cd "$STAGE/debs" && apt-get download libvulkan1:amd64)
}
ls "$STAGE"/debs/libvulkan1_*.deb >/dev/null

mkdir -p "$OUT_DIR"
ARCHIVE="$OUT_DIR/wgdl-gpu.tar.xz"
log "compressing ($(du -sh "$STAGE" | cut -f1) staged)"
tar -C "$STAGE" -cf - node app debs | xz -6 -T0 >"$ARCHIVE.tmp"
mv "$ARCHIVE.tmp" "$ARCHIVE"
(cd "$OUT_DIR" && sha256sum wgdl-gpu.tar.xz >wgdl-gpu.tar.xz.sha256)
log "wrote $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1)); run it with: bash bench/gpu/run.sh $OUT_DIR [RESULTS_DIR]"
