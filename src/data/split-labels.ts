// The labels of a SynFace split: `<split>/params.jsonl` (one JSON record per image, keyed by its id), normalised by
// src/models/features/labels.ts. Read by the feature network's trainer and by a conditional GAN's.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Gan3dError } from '../engine/errors.js';
import { labelVector, type LabelSpec } from '../models/features/labels.js';

/** Reads `<split>/params.jsonl` into a map id → record; a clear error when it is missing or unreadable. */
export async function readSplitParams(splitDir: string): Promise<Map<string, Record<string, unknown>>> {
  const file = path.join(splitDir, 'params.jsonl');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new Gan3dError(`${file}: no labels. Labels come from a SynFace split (\`gan3d data synface\` writes params.jsonl beside image/).`, 'NO_DATA');
  }
  const out = new Map<string, Record<string, unknown>>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Gan3dError(`${file}:${i + 1} is not valid JSON: regenerate the dataset with \`gan3d data synface\`.`, 'BAD_DATA');
    }
    out.set(String(rec.id), rec);
  });
  return out;
}

/** The normalised labels [ids.length, specs.length] of the images `ids` of a split, in that order. */
export async function readSplitLabels(splitDir: string, ids: readonly string[], specs: readonly LabelSpec[]): Promise<Float32Array> {
  const params = await readSplitParams(splitDir);
  const y = new Float32Array(ids.length * specs.length);
  ids.forEach((id, k) => {
    const rec = params.get(id);
    if (!rec) throw new Gan3dError(`${path.join(splitDir, 'params.jsonl')} has no line for image ${id}: regenerate the dataset.`, 'BAD_DATA');
    labelVector(rec, specs, y, k * specs.length);
  });
  return y;
}
