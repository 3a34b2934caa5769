/**
 * Frame triplets of the object-centric method: frame t is analysed with the
 * same boxes cropped from t-3 and t+3. A client uploads KEY, KEY_d3 (t-3) and
 * KEY_p3 (t+3); the suffix goes before the extension: cam1/f0100.jpg,
 * cam1/f0100_d3.jpg, cam1/f0100_p3.jpg.
 */
const NEIGHBOUR_RE = /_(d3|p3)(\.[A-Za-z0-9]+)?$/;

export function neighbourNames(name: string): { d3: string; p3: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  const cut = dot > slash ? dot : name.length;
  const stem = name.slice(0, cut);
  const ext = name.slice(cut);
  return { d3: `${stem}_d3${ext}`, p3: `${stem}_p3${ext}` };
}

/** True for KEY_d3 / KEY_p3 objects: they are inputs of KEY's analysis, not analyses of their own. */
export function isNeighbour(name: string): boolean {
  return NEIGHBOUR_RE.test(name);
}

const VIDEO_EXT = /\.(avi|mp4|mkv|mov|webm|mpg|mpeg|m4v)$/i;

export function isVideo(name: string, contentType?: string): boolean {
  return (contentType !== undefined && contentType.startsWith('video/')) || VIDEO_EXT.test(name);
}
