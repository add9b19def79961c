/**
 * Tests run as root, and root reads and writes any file whatever its mode (CAP_DAC_OVERRIDE). To
 * test a real "permission denied", run the child as root without the two capabilities that bypass
 * file modes. Unlike switching to `nobody`, this works wherever the checkout lives (a clone under a
 * 0700 temp folder is unreadable to other users).
 */

/** The command and arguments that run `command args…` without file-permission bypass. */
export function withoutPermissionBypass(command: string, args: string[]): [string, string[]] {
  const caps = '-dac_override,-dac_read_search';
  return ['setpriv', ['--bounding-set', caps, '--inh-caps', caps, '--', command, ...args]];
}
