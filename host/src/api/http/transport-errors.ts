/**
 * Errors found before a route runs (a bad URL escape, a path segment too long, headers too large, a request
 * not received in time), answered in Dapr's error format like every other error of the API.
 */
import { maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { MortarError, toDaprBody } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { MAX_KEY_URL_CHARS } from '../../blocks/state/keys.js';

/** How long a connection refused at the HTTP level may linger, draining what the client still sends. */
const CLOSE_GRACE_MS = 2000;

/**
 * fastify's `frameworkErrors`: a path that does not decode (`%ff`, `%zz`) is 400 ERR_MALFORMED_REQUEST; a
 * path segment longer than the router's limit (`MAX_KEY_URL_CHARS`) is 414.
 */
export function frameworkErrors(appId: () => string) {
  return (err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void => {
    let e: MortarError;
    if (err.code === 'FST_ERR_BAD_URL') e = new MortarError('ERR_MALFORMED_REQUEST', ['the URL path is not valid: a percent escape does not decode to UTF-8']);
    else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
      e = new MortarError('ERR_BAD_REQUEST', [`a URL path segment is longer than ${MAX_KEY_URL_CHARS} characters`], { http: 414 });
    else e = new MortarError('ERR_INTERNAL', [err.message]);
    void reply.code(e.http).type('application/json').send(toDaprBody(e, appId()));
  };
}

/**
 * fastify's `clientErrorHandler`, for requests Node's HTTP parser refuses: 431 for headers over Node's
 * `maxHeaderSize`, 408 for a request not received in time, 400 otherwise. The answer carries
 * `Connection: close`; the connection is then ended cleanly: our side is half-closed and what the client still
 * sends is read and dropped until it closes too (closing with unread data would reset the connection and could
 * lose the answer), for at most `CLOSE_GRACE_MS`.
 */
export function clientErrorHandler(appId: () => string, logger: Logger) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let e: MortarError;
    if (err.code === 'HPE_HEADER_OVERFLOW')
      e = new MortarError('ERR_BAD_REQUEST', [`the request headers are larger than ${maxHeaderSize} bytes`], { http: 431 });
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') e = new MortarError('ERR_BAD_REQUEST', ['the request was not received in time'], { http: 408 });
    else e = new MortarError('ERR_BAD_REQUEST', [`malformed HTTP request (${err.code ?? err.message})`]);
    logger.debug({ code: e.code, err: err.code ?? err.message }, e.message);
    // A response already under way on this socket cannot be followed by another one.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(toDaprBody(e, appId()));
    const reason = e.http === 431 ? 'Request Header Fields Too Large' : e.http === 408 ? 'Request Timeout' : 'Bad Request';
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => socket.destroy());
    socket.resume(); // drain: the parser no longer reads this socket
    socket.end(
      `HTTP/1.1 ${e.http} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  };
}
