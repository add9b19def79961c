/**
 * Making stored text safe to print. A message may contain CR/LF (or terminal escape sequences)
 * from user input; printed raw, it could forge extra log lines or rewrite the terminal. Text
 * output (the CLI table, CSV viewers) shows them escaped instead; JSON output escapes them anyway.
 */

// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `s` with every control character written as an escape: "\n" -> "\\n", ESC -> "\\x1b". */
export function escapeControl(s: string): string {
  return s.replace(UNSAFE, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default: {
        const code = c.charCodeAt(0);
        return code > 0xff
          ? `\\u${code.toString(16).padStart(4, '0')}`
          : `\\x${code.toString(16).padStart(2, '0')}`;
      }
    }
  });
}
