/**
 * Who may call Lookout's HTTP endpoints. Loopback is the machine itself; any other listen address (0.0.0.0,
 * a LAN or public interface, ::) is reachable by others and must not be served without authentication.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { SetupError } from '../core/errors';

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost (and IPv4-mapped loopback). */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.split('.')[0] === '127';
}

/** A server was asked to listen beyond loopback without a way to authenticate its callers. */
export class UnauthenticatedExposureError extends SetupError {
  constructor(message: string) {
    super('UnauthenticatedExposure', message);
  }
}

/** Compares a request's `Authorization: Bearer <token>` with the secret in constant time (hashes of equal length). */
export function bearerMatches(authorization: string | undefined, secret: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!m) return false;
  const want = crypto.createHash('sha256').update(secret).digest();
  const got = crypto.createHash('sha256').update(m[1]).digest();
  return crypto.timingSafeEqual(want, got);
}
