/** Hides a password in a connection string before it reaches a log line or an error. */
export function redact(s: string): string {
  return s.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@').replace(/(password\s*=\s*)\S+/i, '$1***');
}
