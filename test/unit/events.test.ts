import { describe, expect, it } from 'vitest';
import { bucketToken, objectKey, validateObjectEvent, workflowIdFor } from '../../core/events';

const good = {
  bucket: 'lookout-inbox',
  name: 'cam1/2026/frame 001.jpg',
  generation: '1795447927357829',
  size: '5123',
  contentType: 'image/jpeg',
  timeCreated: '2026-11-23T15:32:07.357823Z',
  md5Hash: 'XUFAKrxLKna5cZ2REBfFkg==',
  crc32c: 'mnG7TA==',
  metadata: { 'lookout-run': 'r1' },
  source: 'watcher',
  publishedAt: '2026-11-23T15:32:08Z',
};

describe('validateObjectEvent', () => {
  it('accepts a GCS notification payload and normalises it', () => {
    const v = validateObjectEvent({ ...good, size: 5123, generation: 1795447927357829 });
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.value.size).toBe('5123');
    expect(v.value.generation).toBe('1795447927357829');
    expect(v.value.timeCreated).toBe('2026-11-23T15:32:07.357Z');
    expect(v.value.metadata).toEqual({ 'lookout-run': 'r1' });
    expect(v.value.eventType).toBe('OBJECT_FINALIZE');
  });

  it.each([
    [{ ...good, bucket: 'UPPER' }, 'bucket'],
    [{ ...good, name: '' }, 'name'],
    [{ ...good, name: 'a\nb' }, 'name'],
    [{ ...good, generation: '0' }, 'generation'],
    [{ ...good, generation: 'abc' }, 'generation'],
    [{ ...good, size: -1 }, 'size'],
    [{ ...good, timeCreated: 'yesterday' }, 'timeCreated'],
    [{ ...good, metadata: { a: 1 } }, 'metadata.a'],
    [{ ...good, md5Hash: 'not base64!' }, 'md5Hash'],
    [{ ...good, eventType: 'OBJECT_DELETE' }, 'eventType'],
    [{ ...good, source: 'carrier-pigeon' }, 'source'],
  ])('rejects %j naming the field', (input, field) => {
    const v = validateObjectEvent(input);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toContain(`"${field}"`);
  });

  it('rejects non-objects', () => {
    expect(validateObjectEvent('x').ok).toBe(false);
    expect(validateObjectEvent([good]).ok).toBe(false);
    expect(validateObjectEvent(null).ok).toBe(false);
  });

  it('rejects names over 1024 bytes', () => {
    const v = validateObjectEvent({ ...good, name: 'é'.repeat(513) });
    expect(v.ok).toBe(false);
  });
});

describe('identities', () => {
  it('derives keys and workflow ids from bucket, name and generation', () => {
    expect(objectKey(good)).toBe('lookout-inbox/cam1/2026/frame 001.jpg#1795447927357829');
    expect(workflowIdFor('objects', good)).toBe('objects:lookout-inbox/cam1/2026/frame 001.jpg#1795447927357829');
    expect(workflowIdFor('objects', { ...good, generation: '2' })).not.toBe(workflowIdFor('objects', good));
  });
  it('escapes dots in subject tokens', () => {
    expect(bucketToken('my.bucket.example')).toBe('my_bucket_example');
  });
});
